/**
 * A live machine in the browser, recorded as it runs: the guest a `vmrs
 * serve` offers (GET api/guest), booted from its images, with console input
 * from the page passing the gate into the log, and the recording written
 * to memory instead of a file. It is the same recording `vmrs record` makes
 * (same header, events, digests, checkpoints), so `vmrs replay` replays it
 * in Node bit for bit, and the page replays recordings made in Node.
 */
import type { ImageRef, RecordingHeader } from '../replay/log-format.js';
import type { GuestOffer } from './guest-offer.js';
import { newRecordingHeader } from '../replay/record-settings.js';
import { Gate } from '../replay/gate.js';
import { Recorder, type CheckpointSchedule, type Compressor } from '../replay/recorder.js';
import { virtConfigOf } from '../replay/replay-devices.js';
import { VirtMachine } from '../machine/virt.js';
import { RunLoop } from '../machine/run-loop.js';
import { checkImage, warmUpOnce, type ImageLoader } from './replay-machine.js';

export interface LiveOptions {
  /** Every byte the guest writes to its console, in order. */
  console: (byte: number) => void;
  /** Carry the images inside the recording (it then replays anywhere; larger). */
  embed: boolean;
  /** Images carried whatever `embed` says, by name (those chosen from the person's disk). */
  carry?: ReadonlySet<string>;
  /** Instructions between state digests (0: none), as `vmrs record --digest-interval`. */
  digestInterval: number;
  /** Checkpoints in the recording, as `vmrs record --checkpoint-every`. */
  checkpoints: CheckpointSchedule;
  /** Host milliseconds between chunks cut (a closed tab loses at most this much). */
  flushEveryMs?: number;
  /** Called after every slice of guest work (console output, status). */
  afterSlice?: () => void;
}

export interface LiveMachine {
  vm: VirtMachine;
  gate: Gate;
  recorder: Recorder;
  loop: RunLoop;
  header: RecordingHeader;
  /** The recording's bytes so far (whole once the recorder is closed). */
  bytes(): Uint8Array;
  /** Bytes written so far. */
  readonly size: number;
}

/** The host's entropy: WebCrypto, in the 64 KiB pieces getRandomValues takes at most. */
function hostEntropy(dest: Uint8Array): void {
  for (let at = 0; at < dest.length; at += 65536)
    crypto.getRandomValues(dest.subarray(at, Math.min(dest.length, at + 65536)));
}

/**
 * A checkpoint deflated by the browser's own compressor (CompressionStream,
 * raw DEFLATE as the format wants), off the worker's thread: the guest goes
 * on meanwhile. fflate's async mode would start a worker from a blob: URL,
 * which the page's Content Security Policy forbids.
 */
const nativeDeflate: Compressor = async (raw) => {
  const cs = new CompressionStream('deflate-raw');
  const writer = cs.writable.getWriter();
  void writer.write(raw as Uint8Array<ArrayBuffer>).then(() => writer.close());
  const pieces: Uint8Array[] = [];
  const reader = cs.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pieces.push(value);
  }
  return pieces;
};

/** Fetch and check the offered guest's images, build the machine and its recorder. */
export async function bootLive(
  offer: GuestOffer,
  load: ImageLoader,
  opts: LiveOptions,
): Promise<LiveMachine> {
  const image = async (name: string, what: string, ref: ImageRef) =>
    checkImage(await load(name, ref, what), ref, what);
  const bios = offer.bios === 'none' ? 'none' : await image('bios', 'firmware', offer.bios);
  const kernel = await image('kernel', 'kernel', offer.kernel);
  const initrd = offer.initrd ? await image('initrd', 'initrd', offer.initrd) : undefined;
  const images = new Map<string, Uint8Array>();
  const refOf = (name: string, ref: ImageRef, data: Uint8Array): ImageRef => {
    const embedded = opts.embed || (opts.carry?.has(name) ?? false);
    if (embedded) images.set(name, data);
    return { path: ref.path, size: ref.size, sha256: ref.sha256, embedded };
  };
  const header = newRecordingHeader({
    // The RTC's start is the page's wall clock: a host input, held in the header.
    machine: { ...offer.machine, rtcStartUnixNs: Date.now() * 1e6 },
    bios: bios === 'none' ? 'none' : refOf('bios', offer.bios as ImageRef, bios),
    kernel: refOf('kernel', offer.kernel, kernel),
    initrd: initrd ? refOf('initrd', offer.initrd!, initrd) : undefined,
    devices: [],
    digestInterval: opts.digestInterval,
  });

  const pieces: Uint8Array[] = [];
  let size = 0;
  const write = (b: Uint8Array) => {
    // The recorder may reuse what it hands over: keep a copy.
    pieces.push(b.slice());
    size += b.length;
  };
  const recorder = new Recorder(write, header, {
    images,
    schedule: opts.checkpoints,
    compress: typeof CompressionStream === 'function' ? nativeDeflate : undefined,
    spreadDigests: true, // as vmrs record's default (digest-spacing.ts)
  });
  const gate = new Gate(hostEntropy, recorder);
  warmUpOnce();
  const config = { ...virtConfigOf(header, { bios, kernel, initrd }), virtio: [] };
  const vm = new VirtMachine(config, opts.console);
  gate.attach(vm);
  recorder.attach(vm);
  let lastFlush = performance.now();
  const flushEvery = opts.flushEveryMs ?? 1000;
  const loop = new RunLoop(vm, gate, {
    afterSlice: () => {
      opts.afterSlice?.();
      recorder.maybeCheckpoint();
      if (performance.now() - lastFlush > flushEvery) {
        recorder.flush();
        lastFlush = performance.now();
      }
    },
    nextStop: () => recorder.nextDigestAt,
    atStop: () => recorder.digestNow(),
  });
  return {
    vm,
    gate,
    recorder,
    loop,
    header,
    bytes: () => {
      const out = new Uint8Array(size);
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
    get size() {
      return size;
    },
  };
}
