/**
 * `vmrs replay FILE`: re-execute a recording from its log alone — no
 * network, no passt, no console input, no host clock — printing the guest's
 * console output as it was, and exiting with the recorded guest's status.
 */
import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from './options.js';
import {
  RecordingFormatError,
  readRecording,
  type ImageRef,
  type ParsedRecording,
} from '../replay/log-format.js';
import { ReplayGate } from '../replay/replay-gate.js';
import { Replayer, type Perturbation } from '../replay/replayer.js';
import { VirtMachine, type VirtConfig, type VirtioSpec } from '../machine/virt.js';
import { bytesDigest } from '../host/file-digest.js';
import { MemoryCowStore } from '../host/block-cow.js';
import { fileDigest } from '../host/file-digest.js';
import { BlockIoError, type BlockStore } from '../devices/virtio/backends.js';

export interface ReplayOptions {
  verify: boolean;
  quiet?: boolean;
}

/** Exit statuses of `vmrs replay` itself when it can't finish as recorded. */
export const REPLAY_DIVERGED = 2;
export const REPLAY_TRUNCATED = 3;

function loadImage(rec: ParsedRecording, name: string, what: string, ref: ImageRef): Uint8Array {
  let data: Uint8Array | undefined;
  if (ref.embedded) {
    data = rec.images.get(name);
    if (!data)
      throw new UsageError(
        `the recording says its ${what} is embedded, but it is not there (damaged file?)`,
      );
  } else {
    if (!existsSync(ref.path))
      throw new UsageError(
        `${what} '${ref.path}' used by the recording is not there (record with --embed to carry images)`,
      );
    data = new Uint8Array(readFileSync(ref.path));
  }
  const d = bytesDigest(data);
  if (d !== ref.sha256)
    throw new UsageError(
      `${what} '${ref.path}' is not the one recorded (sha256 ${d.slice(0, 16)}…, recorded ${ref.sha256.slice(0, 16)}…)`,
    );
  return data;
}

/** An embedded disk image, copy-on-write in memory. */
class BytesStore implements BlockStore {
  readonly size: number;
  constructor(
    private readonly data: Uint8Array,
    readonly readOnly: boolean,
  ) {
    this.size = Math.floor(data.length / 512) * 512;
  }
  read(offset: number, dest: Uint8Array): void {
    dest.set(this.data.subarray(offset, offset + dest.length));
  }
  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new BlockIoError('read-only disk');
    this.data.set(src, offset);
  }
  flush(): void {}
  close(): void {}
}

function parsePerturbation(spec: string | undefined): Perturbation | undefined {
  // Test-only (VMRS_TEST_PERTURB): "x5@ICOUNT" flips a register's low bit, "ram:ADDR@ICOUNT" a RAM byte.
  if (!spec) return undefined;
  const m = /^(?:x(\d+)|ram:(0x[0-9a-f]+))@(\d+)$/i.exec(spec);
  if (!m) throw new UsageError(`VMRS_TEST_PERTURB: bad spec '${spec}'`);
  const icount = Number(m[3]);
  if (m[1] !== undefined) {
    const r = Number(m[1]);
    return { icount, apply: (vm) => void (vm.cpu.xl[r] ^= 1) };
  }
  const addr = Number(m[2]);
  return {
    icount,
    apply: (vm) => {
      vm.bus.ram8[addr - vm.bus.ramBase] ^= 1;
      vm.bus.markDirty(addr, 1);
    },
  };
}

export async function replayCommand(file: string, opts: ReplayOptions): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[vmrs] ${s}\n`);
  };
  if (!existsSync(file)) throw new UsageError(`recording '${file}' does not exist`);
  let rec: ParsedRecording;
  try {
    rec = readRecording(new Uint8Array(readFileSync(file)));
  } catch (e) {
    if (e instanceof RecordingFormatError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  const h = rec.header;
  if (rec.damage) log(`warning: ${rec.damage}; replaying the ${rec.chunks} whole chunks before it`);
  const gate = new ReplayGate(rec.events);
  const out: number[] = [];
  const stdout = (b: number) => out.push(b);
  const virtio: VirtioSpec[] = [];
  h.devices.forEach((d, i) => {
    switch (d.kind) {
      case 'blk': {
        if (d.disk.embedded) {
          const data = loadImage(rec, `disk${i}`, 'disk image', d.disk).slice();
          virtio.push({
            kind: 'blk',
            store: new BytesStore(data, d.disk.readOnly),
            serial: d.disk.serial,
          });
        } else {
          if (!existsSync(d.disk.path))
            throw new UsageError(`disk image '${d.disk.path}' used by the recording is not there`);
          if (fileDigest(d.disk.path) !== d.disk.sha256)
            throw new UsageError(
              `disk image '${d.disk.path}' is not the one recorded (its digest differs)`,
            );
          virtio.push({
            kind: 'blk',
            store: new MemoryCowStore(d.disk.path, d.disk.readOnly),
            serial: d.disk.serial,
          });
        }
        break;
      }
      case 'net': {
        const mac = Uint8Array.from(d.mac.split(':'), (x) => parseInt(x, 16));
        virtio.push({ kind: 'net', sink: { send: () => {} }, mac, linkUp: d.linkUp });
        break;
      }
      case 'rng':
        virtio.push({ kind: 'rng', source: gate });
        break;
      case 'console':
        virtio.push({
          kind: 'console',
          sink: { write: d.target === 'stdio' ? (b) => b.forEach(stdout) : () => {} },
        });
        break;
    }
  });
  const config: VirtConfig = {
    memoryBytes: h.machine.memoryBytes,
    bios: h.bios === 'none' ? 'none' : loadImage(rec, 'bios', 'firmware', h.bios),
    biosName: h.bios === 'none' ? 'none' : h.bios.path,
    kernel: loadImage(rec, 'kernel', 'kernel', h.kernel),
    kernelName: h.kernel.path,
    initrd: h.initrd ? loadImage(rec, 'initrd', 'initrd', h.initrd) : undefined,
    initrdName: h.initrd?.path,
    append: h.machine.append,
    insnsPerTick: h.machine.insnsPerTick,
    rtcStartUnixNs: h.machine.rtcStartUnixNs,
    virtio,
  };
  const vm = new VirtMachine(config, stdout);
  gate.attach(vm);
  const replayer = new Replayer(
    vm,
    rec.events,
    gate,
    opts.verify,
    parsePerturbation(process.env.VMRS_TEST_PERTURB),
  );
  const flush = async () => {
    if (!out.length) return;
    const chunk = Buffer.from(out);
    out.length = 0;
    if (!process.stdout.write(chunk))
      await new Promise<void>((r) => process.stdout.once('drain', () => r()));
  };
  const t0 = performance.now();
  for (;;) {
    const st = replayer.step(20_000_000);
    await flush();
    if (st.state === 'running') {
      await new Promise<void>((r) => setImmediate(r));
      continue;
    }
    const secs = (performance.now() - t0) / 1000;
    const insns = vm.cpu.icount;
    switch (st.state) {
      case 'done':
        log(
          `replay complete: ${insns} instructions in ${secs.toFixed(2)} s, ` +
            (opts.verify
              ? `${replayer.digestsChecked} state digests verified`
              : 'digests not verified'),
        );
        return st.status;
      case 'truncated':
        process.stderr.write(
          `vmrs: replay: the recording ends at icount ${st.icount} without an end marker` +
            (rec.damage
              ? ` (${rec.damage})`
              : ' (the recorder was stopped before it could finish)') +
            '; replayed up to there\n',
        );
        return REPLAY_TRUNCATED;
      case 'diverged': {
        const d = st.divergence;
        process.stderr.write(
          `vmrs: replay diverged at icount ${d.icount}, pc ${d.pc}: ${d.reason}\n`,
        );
        for (const line of d.details) process.stderr.write(`  ${line}\n`);
        return REPLAY_DIVERGED;
      }
    }
  }
}
