/**
 * Boots the default Linux guest under vmrs (OpenSBI → Linux 6.1 → busybox),
 * types commands on the console as a person would, checks what they print,
 * then powers the guest off and checks vmrs's exit status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession } from '../helpers/guest-session.js';
import { ensureDefaultGuest } from '../../src/host/default-guest.js';
import { QEMU_BINARY, qemuVirtArgs } from '../../src/host/qemu.js';
import { needTools } from '../helpers/tools.js';

test('default Linux guest boots to a shell, runs commands and powers off', async () => {
  const vm = new GuestSession(['run', '-q']);
  try {
    await vm.waitFor(/[#$] $/m);
    const uname = await vm.shell('uname -a');
    assert.match(uname, /Linux \S+ 6\.1\.\d+.* riscv64/);

    const cpuinfo = await vm.shell('cat /proc/cpuinfo');
    assert.match(cpuinfo, /isa\s*:\s*rv64imafdc/);
    assert.match(cpuinfo, /mmu\s*:\s*sv(39|48)/);

    const pipeline = await vm.shell('echo hello vmrs world | tr a-z A-Z | wc -c');
    assert.equal(pipeline.trim(), '17');

    const arith = await vm.shell(
      'i=0; s=0; while [ $i -lt 200 ]; do s=$((s+i*i)); i=$((i+1)); done; echo $s',
    );
    assert.equal(arith.trim(), '2646700');

    vm.type('poweroff -f\n');
    const status = await vm.exited;
    assert.equal(status, 0, `exit status; stderr: ${vm.stderr}`);
  } finally {
    vm.kill();
  }
});

test('--append and --initrd given by the user reach the guest', async () => {
  const guest = await ensureDefaultGuest({});
  // An extra cpio archive appended to the default one: Linux unpacks both.
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-initrd-'));
  mkdirSync(join(dir, 'root'));
  writeFileSync(join(dir, 'root', 'vmrs-marker'), 'from the user initrd\n');
  const extra = execSync('find vmrs-marker | cpio -o -H newc --quiet | gzip -9n', {
    cwd: join(dir, 'root'),
  });
  const initrd = join(dir, 'initrd.cpio.gz');
  writeFileSync(initrd, Buffer.concat([readFileSync(guest.initrd), extra]));
  const vm = new GuestSession([
    'run',
    '-q',
    '--kernel',
    guest.kernel,
    '--initrd',
    initrd,
    '--append',
    'console=ttyS0 quiet vmrs.test=append-works',
  ]);
  try {
    await vm.waitFor(/[#$] $/m);
    assert.match(await vm.shell('cat /proc/cmdline'), /vmrs\.test=append-works/);
    assert.match(await vm.shell('cat /vmrs-marker'), /from the user initrd/);
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0);
  } finally {
    vm.kill();
  }
});

test('a vmlinux ELF boots as its Image does (QEMU refuses it)', async () => {
  const guest = await ensureDefaultGuest({});
  const vm = new GuestSession([
    'run',
    '-q',
    '--kernel',
    guest.vmlinux,
    '--initrd',
    guest.initrd,
    '--append',
    'console=ttyS0 quiet',
  ]);
  try {
    await vm.waitFor(/[#$] $/m);
    assert.match(await vm.shell('uname -r'), /6\.1\.\d+/);
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
  }
});

test('the same kernel and initramfs boot on QEMU virt with the same firmware', async (t) => {
  if (!needTools(t, 'qemu-system-riscv64')) return;
  const guest = await ensureDefaultGuest({});
  const qemu = spawn(QEMU_BINARY, qemuVirtArgs(guest.kernel, guest.initrd), { stdio: 'pipe' });
  let out = '';
  const done = new Promise<number | null>((res) => qemu.on('exit', (c) => res(c)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`QEMU did not reach a prompt:\n${out.slice(-1500)}`)),
        300_000,
      );
      qemu.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if (/[#$] $/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // The answer is computed by the guest's shell: the echo of the typed line cannot match it.
    qemu.stdin.write('echo QEMU-$((6*7)) $(uname -m); poweroff -f\n');
    assert.equal(await done, 0, out.slice(-1500));
    assert.match(out, /\nQEMU-42 riscv64\r?\n/);
  } finally {
    qemu.kill('SIGKILL');
  }
});
