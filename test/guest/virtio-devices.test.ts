/**
 * The virtio devices under the default Linux guest, used as a person would:
 * a disk written in one boot and read in the next (and left untouched by
 * snapshot=on and overlays), entropy, the second console, networking through
 * passt both ways, and two VMs on one wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { GuestSession, VMRS_BIN } from '../helpers/guest-session.js';
import { fileDigest } from '../../src/host/file-digest.js';
import { freePort, hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { needTools } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-virtio-'));
const PROMPT = /[#$] $/m;

function mkExt2(name: string, mib = 16): string {
  return makeExt2(join(dir, name), mib);
}

async function boot(args: string[], body: (vm: GuestSession) => Promise<void>): Promise<void> {
  const vm = new GuestSession(['run', '-q', ...args]);
  try {
    await vm.waitFor(PROMPT);
    await body(vm);
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, `exit status; stderr: ${vm.stderr}`);
  } finally {
    vm.kill();
  }
}

test('disk: written in one boot, read in the next; snapshot=on and overlays leave the base as it was', async () => {
  const img = mkExt2('disk.img');
  await boot(['--drive', `file=${img}`], async (vm) => {
    assert.match(await vm.shell('ls /mnt'), /lost\+found/);
    await vm.shell('echo first-boot > /mnt/a.txt; sync');
  });
  const afterFirst = fileDigest(img);

  await boot(
    ['--drive', `file=${img},snapshot=on`, '--drive', `file=${img},readonly=on`],
    async (vm) => {
      assert.equal((await vm.shell('cat /mnt/a.txt')).trim(), 'first-boot');
      await vm.shell('echo in-snapshot > /mnt/b.txt; sync');
      assert.equal((await vm.shell('cat /mnt/b.txt')).trim(), 'in-snapshot');
      // vdb is read-only: the kernel refuses writes to it.
      assert.match(await vm.shell('cat /sys/block/vdb/ro'), /^1/m);
      assert.match(
        await vm.shell('dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>&1; echo rc=$?'),
        /rc=[1-9]/,
      );
    },
  );
  assert.equal(fileDigest(img), afterFirst, 'snapshot=on left the base image unchanged');

  const ovl = join(dir, 'disk.ovl');
  await boot(['--drive', `file=${img},overlay=${ovl}`], async (vm) => {
    assert.match(await vm.shell('ls /mnt'), /a\.txt/);
    assert.doesNotMatch(await vm.shell('ls /mnt'), /b\.txt/);
    await vm.shell(
      'dd if=/dev/urandom of=/mnt/big bs=1k count=300 2>/dev/null; md5sum /mnt/big > /mnt/big.md5; echo in-overlay > /mnt/c.txt; sync',
    );
  });
  assert.equal(fileDigest(img), afterFirst, 'the overlay left the base image unchanged');
  assert.ok(existsSync(ovl));

  await boot(['--drive', `file=${img},overlay=${ovl}`], async (vm) => {
    assert.equal((await vm.shell('cat /mnt/c.txt')).trim(), 'in-overlay');
    assert.match(await vm.shell('md5sum -c /mnt/big.md5'), /OK/);
  });
});

test('entropy from /dev/hwrng and the virtio console as a second console', async () => {
  const hvcOut = join(dir, 'hvc.txt');
  await boot(['--rng', '--hvc', `file=${hvcOut}`], async (vm) => {
    assert.equal(
      (await vm.shell('cat /sys/class/misc/hw_random/rng_current')).trim(),
      'virtio_rng.0',
    );
    assert.equal((await vm.shell('head -c 64 /dev/hwrng | wc -c')).trim(), '64');
    const hex = await vm.shell('head -c 32 /dev/hwrng | od -An -tx1 | tr -d " \\n"');
    assert.match(hex.trim(), /^[0-9a-f]{64}$/);
    assert.notEqual(hex.trim(), '0'.repeat(64));
    await vm.shell('echo through-hvc0 > /dev/hvc0');
  });
  assert.match(readFileSync(hvcOut, 'utf8'), /through-hvc0/);
});

test('--hvc stdio puts the interactive console on hvc0', async () => {
  await boot(['--hvc', 'stdio'], async (vm) => {
    // hvc0 is the preferred console (flag C) and the shell's terminal; ttyS0 is not.
    const consoles = await vm.shell('cat /proc/consoles');
    assert.match(consoles, /^hvc0\s+\S+\s+\([^)]*C[^)]*\)/m, consoles);
    assert.doesNotMatch(consoles, /^ttyS0\s+\S+\s+\([^)]*C[^)]*\)/m, consoles);
    assert.equal((await vm.shell('tty')).trim(), '/dev/hvc0');
  });
});

test('--hvc stdio takes input piped in before the guest is up, recorded and replayed', () => {
  // Linux drops what reaches a virtio console port before the port is open; the device
  // holds input until the driver says it is (MULTIPORT's PORT_OPEN).
  const file = join(dir, 'hvc-piped.vmrs');
  const vmrs = (args: string[], input = '') =>
    spawnSync(process.execPath, [VMRS_BIN, ...args], {
      encoding: 'latin1',
      input,
      timeout: 300_000,
    });
  const rec = vmrs(
    ['record', '-q', '-o', file, '--hvc', 'stdio'],
    'echo PIPED-$((2+3)); tty\npoweroff -f\n',
  );
  assert.equal(rec.status, 0, rec.stderr);
  assert.match(rec.stdout, /PIPED-5\r?\n\/dev\/hvc0\r?\n/);
  const rep = vmrs(['replay', '-q', file]);
  assert.equal(rep.status, 0, rep.stderr);
  assert.equal(rep.stdout, rec.stdout);
});

test('network through passt: DHCP, a guest server reached by port forward, a host server reached by the guest', async (t) => {
  if (!needTools(t, 'passt')) return;
  const hostPort = await freePort();
  const page = `hello from the host on port ${hostPort}`;
  const server = await servePayload(page);
  const serverPort = server.port;
  try {
    await boot(['--net', `user,hostfwd=tcp::${hostPort}-:80`], async (vm) => {
      assert.match(await vm.shell('ip -4 addr show eth0'), /inet \d+\.\d+\.\d+\.\d+/);
      await vm.shell(
        'mkdir -p /www && echo guest-page-$((6*7)) > /www/index.html && httpd -p 80 -h /www',
      );
      // passt forwards to the guest once it has seen a frame from it (DHCP did that).
      const res = await fetch(`http://127.0.0.1:${hostPort}/`);
      assert.equal((await res.text()).trim(), 'guest-page-42');
      // The guest reaches the host's loopback through the gateway address (passt maps it).
      const got = await vm.shell(`wget -q -O - ${hostUrlFromGuest(serverPort)}`);
      assert.equal(got.trim(), page);
    });
  } finally {
    server.close();
  }
});

test('two VMs on a socket wire ping each other', async () => {
  const wire = join(dir, 'wire.sock');
  // vmrs.nodhcp: no DHCP server on this wire; addresses are set by hand below.
  const noDhcp = ['--append', 'console=ttyS0 quiet vmrs.nodhcp'];
  const a = new GuestSession([
    'run',
    '-q',
    ...noDhcp,
    '--net',
    `socket,listen=${wire},mac=52:54:00:00:00:0a`,
  ]);
  const b = new GuestSession([
    'run',
    '-q',
    ...noDhcp,
    '--net',
    `socket,connect=${wire},mac=52:54:00:00:00:0b`,
  ]);
  try {
    await Promise.all([a.waitFor(PROMPT), b.waitFor(PROMPT)]);
    await a.shell('ip addr add 10.9.0.1/24 dev eth0; ip link set eth0 up');
    await b.shell('ip addr add 10.9.0.2/24 dev eth0; ip link set eth0 up');
    assert.match(await b.shell('ping -c 3 -W 5 10.9.0.1'), / 0% packet loss/);
    assert.match(await a.shell('ping -c 2 -W 5 10.9.0.2'), / 0% packet loss/);
    a.type('poweroff -f\n');
    b.type('poweroff -f\n');
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
  } finally {
    a.kill();
    b.kill();
  }
});
