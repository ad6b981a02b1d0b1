/**
 * Host disk errors pass the gate: a recording logs which disk calls failed
 * (EventType.DiskError), and its replay, whose disk does not fail, fails the
 * same calls — the guest sees the same I/O errors and the same data. A write
 * that may have changed part of the disk stops the recording after it; a
 * disk that fails only in the replay stops the replay with a clear error.
 *
 * The guest is guests/bare/virtio-blk-io.S: a fixed list of requests, each
 * printed as its status and a hash of its data buffer. A model of the disk
 * written here (an independent oracle) says what it must print.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { bytesDigest } from '../../src/host/file-digest.js';
import { VirtMachine, type VirtConfig } from '../../src/machine/virt.js';
import { BlockIoError, type BlockStore } from '../../src/devices/virtio/backends.js';
import { MemoryCowStore } from '../../src/host/block-cow.js';
import { Gate } from '../../src/replay/gate.js';
import { ReplayGate } from '../../src/replay/replay-gate.js';
import { Recorder } from '../../src/replay/recorder.js';
import { Replayer, type ReplayStatus } from '../../src/replay/replayer.js';
import {
  EventChunkEncoder,
  FORMAT_VERSION,
  allEvents,
  encodeHeader,
  readRecording,
} from '../../src/replay/log-format.js';
import { EventType } from '../../src/replay/events.js';
import { decodeDiskError, DiskOp } from '../../src/replay/disk-gate.js';
import { needTools } from '../helpers/tools.js';

const haveCc = spawnSync('riscv64-linux-gnu-gcc', ['--version']).status === 0;

const dir = mkdtempSync(join(tmpdir(), 'vmrs-blkio-'));
const elf = join(dir, 'virtio-blk-io.elf');
const diskPath = join(dir, 'disk.img');

function buildGuest(): Uint8Array {
  const isa = join(REPO_ROOT, 'test/isa/src');
  const r = spawnSync(
    'riscv64-linux-gnu-gcc',
    [
      ...['-march=rv64gc', '-mabi=lp64d', '-static', '-mcmodel=medany', '-fno-PIE', '-no-pie'],
      ...['-nostdlib', '-nostartfiles', `-I${isa}`, '-T', join(isa, 'link.ld')],
      ...['-o', elf, join(REPO_ROOT, 'guests/bare/virtio-blk-io.S')],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `building the guest program failed:\n${r.stderr}`);
  return new Uint8Array(readFileSync(elf));
}

const kernel = haveCc ? buildGuest() : new Uint8Array(0);
const SECTOR = 512;
/** The disk: sector k of the first four holds byte 0x10·(k+1), the rest zeros. */
const image = new Uint8Array(64 << 10);
for (let k = 0; k < 4; k++) image.fill(0x10 * (k + 1), k * SECTOR, (k + 1) * SECTOR);
writeFileSync(diskPath, image);

// The guest's requests (guests/bare/virtio-blk-io.S), one store call each: call n = request n.
const T_IN = 0;
const T_OUT = 1;
const T_FLUSH = 4;
const REQUESTS: [number, number][] = [
  [T_OUT, 1],
  [T_IN, 1],
  [T_IN, 0],
  [T_FLUSH, 0],
  [T_OUT, 2],
  [T_IN, 2],
  [T_OUT, 1],
  [T_IN, 1],
  [T_IN, 3],
];

interface Fault {
  partial?: boolean;
}

/** What the guest must print when store calls `faults` fail (the model: an independent oracle). */
function expectedOutput(faults: Map<number, Fault>): string {
  const disk = image.slice();
  let out = '';
  for (const [r, [type, sector]] of REQUESTS.entries()) {
    const data = new Uint8Array(SECTOR);
    if (type === T_OUT) for (let i = 0; i < SECTOR; i++) data[i] = (i * (r + 3)) & 0xff;
    const fault = faults.get(r);
    let status = 0;
    if (fault) {
      status = 1;
      if (fault.partial) break; // the recording stops right after this request's notify
    } else if (type === T_OUT) disk.set(data, sector * SECTOR);
    else if (type === T_IN) data.set(disk.subarray(sector * SECTOR, (sector + 1) * SECTOR));
    let h = 0;
    for (const b of data) h = (h * 31 + b) & 0xffff;
    out += `${status}:${h.toString(16).padStart(4, '0')} `;
    if (r === REQUESTS.length - 1) out += '\n';
  }
  return out;
}

/** A disk whose store calls number `faults` fail with a host error (counted over reads, writes, flushes). */
class FaultyStore implements BlockStore {
  private readonly inner = new MemoryCowStore(image.slice(), false);
  readonly size = this.inner.size;
  readonly readOnly = false;
  calls = 0;
  constructor(private readonly faults: Map<number, Fault>) {}
  private maybeFail(what: string): void {
    const f = this.faults.get(this.calls++);
    if (f) throw new BlockIoError(`${what}: EIO (injected)`, f.partial);
  }
  read(offset: number, dest: Uint8Array): void {
    this.maybeFail('read');
    this.inner.read(offset, dest);
  }
  write(offset: number, src: Uint8Array): void {
    this.maybeFail('write');
    this.inner.write(offset, src);
  }
  flush(): void {
    this.maybeFail('flush');
  }
  close(): void {}
}

function machine(store: BlockStore, out: number[]): VirtMachine {
  const config: VirtConfig = {
    memoryBytes: 16 << 20,
    bios: 'none',
    biosName: 'none',
    kernel,
    kernelName: 'virtio-blk-io.elf',
    append: '',
    insnsPerTick: 10,
    rtcStartUnixNs: 0,
    virtio: [{ kind: 'blk', store }],
  };
  return new VirtMachine(config, (b) => out.push(b));
}

const text = (out: number[]) => String.fromCharCode(...out);

/** Record the guest with store calls `faults` failing on the host. */
function record(faults: Map<number, Fault>) {
  const out: number[] = [];
  const chunks: Uint8Array[] = [];
  const sink: { recorder?: Recorder } = {};
  const gate = new Gate((b) => b.fill(0), { append: (ev) => sink.recorder!.append(ev) });
  const vm = machine(gate.disk(new FaultyStore(faults), 0), out);
  const recorder = new Recorder((b) => chunks.push(b.slice()), {
    formatVersion: FORMAT_VERSION,
    vmrsVersion: 'test',
    createdUnixMs: 0,
    machine: {
      memoryBytes: vm.config.memoryBytes,
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
      consoleOn: 'uart',
    },
    bios: 'none',
    kernel: { path: elf, size: kernel.length, sha256: bytesDigest(kernel), embedded: false },
    devices: [
      {
        kind: 'blk',
        disk: {
          path: diskPath,
          size: image.length,
          sha256: bytesDigest(image),
          embedded: false,
          serial: '',
          readOnly: false,
        },
      },
    ],
    digestInterval: 5000,
  });
  sink.recorder = recorder;
  gate.attach(vm);
  recorder.attach(vm);
  while (!vm.exit) {
    if (vm.cpu.icount >= recorder.nextDigestAt) recorder.digestNow();
    const { result } = vm.runSlice(Math.min(100_000, recorder.nextDigestAt - vm.cpu.icount));
    if (result === 'idle') assert.fail('the guest polls; it never idles');
    assert.ok(vm.cpu.icount < 50_000_000, 'the guest did not finish');
  }
  recorder.end(vm.exit);
  const file = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (file.set(c, at), at + c.length), 0);
  return { file, output: text(out), exit: vm.exit, gate };
}

/** Replay a recording on a disk whose calls `faults` fail on this host. */
function replay(file: Uint8Array, faults = new Map<number, Fault>()) {
  const rec = readRecording(file);
  const out: number[] = [];
  const gate = new ReplayGate(rec.events);
  const vm = machine(gate.disk(new FaultyStore(faults), 0), out);
  gate.attach(vm);
  const replayer = new Replayer(vm, rec.events, gate);
  let st: ReplayStatus;
  do st = replayer.step(10_000_000);
  while (st.state === 'running');
  return {
    status: st,
    output: text(out),
    events: allEvents(rec),
    digests: replayer.digestsChecked,
  };
}

test('the guest program and the disk model agree when nothing fails', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const r = record(new Map());
  assert.equal(r.output, expectedOutput(new Map()));
  assert.deepEqual(r.exit, { kind: 'htif', status: 0 });
  const p = replay(r.file);
  assert.equal(p.status.state, 'done', JSON.stringify(p.status));
  assert.equal(p.output, r.output);
});

test('host disk errors while recording reach the guest as I/O errors and replay exactly', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  // A failed read, a failed flush, a failed write (nothing written: ENOSPC on an overlay's
  // new cluster), and a failed read of a sector written earlier.
  const faults = new Map<number, Fault>([
    [1, {}],
    [3, {}],
    [4, {}],
    [7, {}],
  ]);
  const r = record(faults);
  assert.equal(r.output, expectedOutput(faults), 'what the guest saw while recording');
  assert.notEqual(r.output, expectedOutput(new Map()), 'the errors were visible to the guest');
  assert.deepEqual(r.exit, { kind: 'htif', status: 0 });
  const p = replay(r.file);
  assert.equal(p.status.state, 'done', JSON.stringify(p.status));
  assert.ok(p.digests > 2, 'state digests were checked');
  assert.equal(p.output, r.output, 'the replay, on a disk that does not fail, saw the same');
  const logged = p.events
    .filter((e) => e.type === EventType.DiskError)
    .map((e) => [e.value, decodeDiskError(e).op]);
  assert.deepEqual(logged, [
    [0, DiskOp.Read],
    [0, DiskOp.Flush],
    [0, DiskOp.Write],
    [0, DiskOp.Read],
  ]);
});

test('a host write that may have changed part of the disk ends the recording after it; the replay ends there too', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const faults = new Map<number, Fault>([[4, { partial: true }]]);
  const r = record(faults);
  assert.deepEqual(r.exit, { kind: 'stopped', status: 1 });
  assert.match(
    r.gate.stoppedBy ?? '',
    /disk 0: a host write error .* left the disk partly written/,
  );
  assert.equal(r.output, expectedOutput(faults));
  const p = replay(r.file);
  assert.deepEqual(
    p.status.state === 'done' && [p.status.exitKind, p.status.status],
    ['stopped', 1],
    JSON.stringify(p.status),
  );
  assert.equal(p.output, r.output);
});

test('a disk that fails in the replay where the recording had no error stops the replay with a clear error', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const r = record(new Map());
  const p = replay(r.file, new Map([[2, {}]]));
  assert.equal(p.status.state, 'diverged');
  if (p.status.state !== 'diverged') return;
  assert.equal(p.status.divergence.host, true);
  assert.match(
    p.status.divergence.reason,
    /^disk 0: a read failed on this host at icount \d+ \(read: EIO \(injected\)\), where the recording had none$/,
  );
});

test('a logged disk error that the replayed guest never meets is a divergence, not skipped', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const r = record(new Map([[8, {}]]));
  const original = readRecording(r.file);
  const events = allEvents(original);
  const ev = events.find((e) => e.type === EventType.DiskError)!;
  ev.value = 5; // the recording says call 5 of that instruction failed; there is only call 0
  const enc = new EventChunkEncoder();
  for (const e of events) enc.add(e);
  const rec = readRecording(Buffer.concat([encodeHeader(original.header), enc.flush()]));
  const out: number[] = [];
  const gate = new ReplayGate(rec.events);
  const vm = machine(gate.disk(new FaultyStore(new Map()), 0), out);
  gate.attach(vm);
  const replayer = new Replayer(vm, rec.events, gate);
  let st: ReplayStatus;
  do st = replayer.step(10_000_000);
  while (st.state === 'running');
  assert.equal(st.state, 'diverged');
  if (st.state === 'diverged') assert.match(st.divergence.reason, /disk-error/);
});

/** `vmrs` on a recording file, as a user runs it. */
function vmrs(args: string[]) {
  return spawnSync(process.execPath, [VMRS_BIN, ...args], { encoding: 'latin1', timeout: 120_000 });
}

test('vmrs inspect names the disk errors of a recording; vmrs replay reproduces them', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const faults = new Map<number, Fault>([
    [1, {}],
    [4, {}],
  ]);
  const r = record(faults);
  const file = join(dir, 'errors.vmrs');
  writeFileSync(file, r.file);
  const ins = vmrs(['inspect', '--json', file]);
  assert.equal(ins.status, 0, ins.stderr);
  const info = JSON.parse(ins.stdout) as { events: Record<string, { count: number }> };
  assert.equal(info.events['disk-error']?.count, 2, ins.stdout);
  assert.match(vmrs(['inspect', file]).stdout, /disk-error +2 events/);
  const rep = vmrs(['replay', file]);
  assert.equal(rep.status, 0, rep.stderr);
  assert.equal(rep.stdout, expectedOutput(faults));
});

test('vmrs replay of a recording stopped by a partial write says why, with the recorded status', (t) => {
  if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
  const r = record(new Map([[6, { partial: true }]]));
  const file = join(dir, 'stopped.vmrs');
  writeFileSync(file, r.file);
  const rep = vmrs(['replay', file]);
  assert.equal(rep.status, 1, rep.stderr);
  assert.match(
    rep.stderr,
    /the recording stopped at icount \d+ after a host disk error it could not reproduce: write: EIO/,
  );
  assert.equal(rep.stdout, r.output);
});
