/**
 * A guest that corrupts its receive ring, then gets host input — console
 * bytes on hvc0, a frame on its NIC — while `vmrs record` runs it: the device
 * goes DEVICE_NEEDS_RESET, the host goes on, the guest exits normally, and
 * the recording ends properly and replays. (The guest program is
 * guests/bare/virtio-rx-corrupt.S.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { needTools } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-hostile-'));
const elf = join(dir, 'virtio-rx-corrupt.elf');

function build(): void {
  const isa = join(REPO_ROOT, 'test/isa/src');
  const r = spawnSync(
    'riscv64-linux-gnu-gcc',
    [
      ...['-march=rv64gc', '-mabi=lp64d', '-static', '-mcmodel=medany', '-fno-PIE', '-no-pie'],
      ...['-nostdlib', '-nostartfiles', `-I${isa}`, '-T', join(isa, 'link.ld')],
      ...['-o', elf, join(REPO_ROOT, 'guests/bare/virtio-rx-corrupt.S')],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `building the guest program failed:\n${r.stderr}`);
}

function vmrs(args: string[]) {
  return spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    timeout: 120_000,
    input: '',
  });
}

const FAILURE =
  /warning: virtio-mmio@\d \((virtio-console|virtio-net)\) stopped \(DEVICE_NEEDS_RESET\) at icount \d+: .*/g;

/**
 * The recording is complete (ends with the guest's own exit), holds `input`
 * events and replays, saying the device stopped where the recording said it.
 */
function assertRecordingEndsAndReplays(
  file: string,
  input: string,
  output: string,
  recordStderr: string,
): void {
  const ins = vmrs(['inspect', '--json', file]);
  assert.equal(ins.status, 0, ins.stderr);
  const info = JSON.parse(ins.stdout) as {
    complete: boolean;
    end: { kind: string; status: number } | null;
    events: Record<string, { count: number }>;
  };
  assert.equal(info.complete, true, `recording not complete: ${ins.stdout}`);
  assert.deepEqual(info.end, { kind: 'htif', status: 0 });
  assert.ok(info.events[input]?.count > 0, `no ${input} events in ${JSON.stringify(info.events)}`);
  const rep = vmrs(['replay', file]);
  assert.equal(rep.status, 0, `replay: ${rep.stderr}`);
  assert.equal(rep.stdout, output);
  const said = recordStderr.match(FAILURE);
  assert.ok(said, `record said nothing of the device: ${recordStderr}`);
  assert.deepEqual(rep.stderr.match(FAILURE), said, 'replay reports the same failure, same icount');
}

test('hvc input into a corrupted receive ring while recording: the device needs a reset, the recording ends and replays', async (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  build();
  const file = join(dir, 'hvc.vmrs');
  const vm = new GuestSession([
    ...['record', '-q', '-o', file, '--bios', 'none', '--kernel', elf, '-m', '64'],
    ...['--hvc', 'stdio'],
  ]);
  try {
    await vm.waitFor(/ready\n/, 60_000);
    vm.child.stdin.write('x');
    await vm.waitFor(/needs-reset\n/, 60_000);
    assert.equal(await vm.exited, 0, `record: ${vm.stderr}`);
    // Said to the user, even with -q.
    assert.match(
      vm.stderr,
      /warning: virtio-mmio@\d \(virtio-console\) stopped \(DEVICE_NEEDS_RESET\) at icount \d+: \S/,
    );
  } finally {
    vm.kill();
  }
  assertRecordingEndsAndReplays(file, 'hvc', vm.output, vm.stderr);
});

test('a frame into a corrupted RX ring while recording: the device needs a reset, the recording ends and replays', async (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  build();
  const file = join(dir, 'net.vmrs');
  const path = join(dir, 'wire');
  const peers: Socket[] = [];
  const server = createServer((s) => peers.push(s));
  await new Promise<void>((r) => server.listen(path, r));
  const vm = new GuestSession([
    ...['record', '-q', '-o', file, '--bios', 'none', '--kernel', elf, '-m', '64'],
    ...['--net', `socket,connect=${path}`],
  ]);
  try {
    await vm.waitFor(/ready\n/, 60_000);
    assert.equal(peers.length, 1, 'vmrs connected to the wire');
    // One Ethernet frame, framed as QEMU's stream netdev does: a 4-byte big-endian length first.
    const frame = Buffer.alloc(64, 0xab);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(frame.length);
    peers[0].write(Buffer.concat([len, frame]));
    await vm.waitFor(/needs-reset\n/, 60_000);
    assert.equal(await vm.exited, 0, `record: ${vm.stderr}`);
    assert.match(
      vm.stderr,
      /warning: virtio-mmio@\d \(virtio-net\) stopped \(DEVICE_NEEDS_RESET\) at icount \d+: \S/,
    );
  } finally {
    vm.kill();
    for (const p of peers) p.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
  assertRecordingEndsAndReplays(file, 'net-frame', vm.output, vm.stderr);
});
