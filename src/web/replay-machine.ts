/**
 * A recording's replay built in the browser (no Node APIs): the machine as
 * it was recorded, its devices fed only from the log, and the replayer —
 * as src/cli/open-replay.ts `openReplayOf` builds them in Node. Images not
 * embedded in the recording come from the caller (the worker fetches them
 * from the server); every image's digest is checked here, with WebCrypto.
 */
import { RecordingFormatError, readRecording, type ImageRef } from '../replay/log-format.js';
import type { ParsedRecording } from '../replay/log-format.js';
import { BytesSource } from '../replay/recording-source.js';
import { ReplayGate } from '../replay/replay-gate.js';
import {
  diskRequestObserver,
  replayDevice,
  virtConfigOf,
  type ReplayDeviceHooks,
} from '../replay/replay-devices.js';
import { Replayer } from '../replay/replayer.js';
import { FileCheckpoints } from '../replay/file-checkpoints.js';
import { VirtMachine, type VirtConfig, type VirtioSpec } from '../machine/virt.js';
import { warmUpInterpreter } from '../machine/jit-warmup.js';
import { readSnapshot, restoreSnapshot } from '../snapshot/snapshot-file.js';
import { MemoryCowStore } from '../devices/virtio/cow-store.js';
import { SnapshotError } from '../snapshot/state.js';
import { sha256Hex } from '../util/sha256-hex.js';

/** A recording that cannot be replayed here: damaged, or an image missing or changed. */
export class ReplayOpenError extends Error {}

/**
 * The bytes of an image a recording names but does not carry. `name` is its
 * name in the recording ('bios', 'kernel', 'initrd', 'snapshot', 'diskN'),
 * `what` says what it is in words. Throw (any Error) when it cannot be had:
 * the message is shown as is.
 */
export type ImageLoader = (
  name: string,
  ref: ImageRef,
  what: string,
) => Promise<Uint8Array> | Uint8Array;

export interface BrowserReplay {
  rec: ParsedRecording;
  vm: VirtMachine;
  gate: ReplayGate;
  replayer: Replayer;
  /** The icount of the recording's last event (its end, when it is whole). */
  lastIcount: number;
  /** Why the file is read only in part (the replay then ends 'truncated' before its end). */
  readonly damage: string | undefined;
  /** What the recording said as it was read (recorder notes, damage). */
  warnings: string[];
}

export interface BrowserReplayOptions {
  /** Every byte the guest writes to its console (UART or virtio-console on stdio), in order. */
  console: (byte: number) => void;
  /** Check the recording's state digests (the point of a replay: default true). */
  verify?: boolean;
  /** Keep checkpoints for seek(): instructions between them and bytes they may hold. */
  checkpoints?: { interval: number; memoryBudget: number };
  /** Run the interpreter warm-up first (src/machine/jit-warmup.ts): ~0.1 s that a boot earns back. */
  warmUp?: boolean;
  /** What the guest sends and asks of its disks (the timeline's guest-action tracks). */
  netSent?: ReplayDeviceHooks['netSent'];
  diskRequest?: ReplayDeviceHooks['diskRequest'];
}

let warmedUp = false;

/** `data` if it is the image `ref` names (size and sha256), else ReplayOpenError. */
export async function checkImage(
  data: Uint8Array,
  ref: ImageRef,
  what: string,
): Promise<Uint8Array> {
  if (data.length !== ref.size)
    throw new ReplayOpenError(
      `${what} '${ref.path}' is not the one recorded (${data.length} bytes, recorded ${ref.size})`,
    );
  const d = await sha256Hex(data);
  if (d !== ref.sha256)
    throw new ReplayOpenError(
      `${what} '${ref.path}' is not the one recorded (sha256 ${d.slice(0, 16)}…, recorded ${ref.sha256.slice(0, 16)}…)`,
    );
  return data;
}

/** The interpreter warm-up (src/machine/jit-warmup.ts), once per worker: ~0.1 s that a boot earns back. */
export function warmUpOnce(): void {
  if (warmedUp) return;
  warmedUp = true;
  warmUpInterpreter();
}

/** Read and check a recording held in memory (ReplayOpenError when it is not one). */
export function readRecordingBytes(bytes: Uint8Array): ParsedRecording {
  try {
    return readRecording(new BytesSource(bytes));
  } catch (e) {
    if (e instanceof RecordingFormatError) throw new ReplayOpenError(e.message);
    throw e;
  }
}

/** Build the replay of a recording already read; images not embedded come from `load`. */
export async function openBrowserReplay(
  rec: ParsedRecording,
  load: ImageLoader,
  opts: BrowserReplayOptions,
): Promise<BrowserReplay> {
  const h = rec.header;
  const warnings: string[] = [];
  if (rec.damage)
    warnings.push(`${rec.damage}; replaying the ${rec.chunks} whole chunks before it`);
  for (const n of rec.notes) warnings.push(`the recorder noted at icount ${n.icount}: ${n.text}`);

  const image = async (name: string, what: string, ref: ImageRef): Promise<Uint8Array> => {
    let data: Uint8Array | undefined;
    if (ref.embedded) {
      try {
        data = rec.images.get(name);
      } catch (e) {
        if (e instanceof RecordingFormatError) throw new ReplayOpenError(e.message);
        throw e;
      }
      if (!data)
        throw new ReplayOpenError(
          `the ${what} is said to be embedded, but it is not there (damaged file?)`,
        );
    } else {
      data = await load(name, ref, what);
    }
    return checkImage(data, ref, what);
  };

  const gate = new ReplayGate(rec.events);
  const virtio: VirtioSpec[] = [];
  let nics = 0;
  let disks = 0;
  for (const [i, d] of h.devices.entries()) {
    if (d.kind === 'blk') {
      // The disk as recorded: its image (embedded, or from the server), written in memory only.
      const data = await image(`disk${i}`, 'disk image', d.disk);
      virtio.push({
        kind: 'blk',
        onRequest: diskRequestObserver(disks, opts),
        store: gate.disk(new MemoryCowStore(data, d.disk.readOnly), disks++),
        serial: d.disk.serial,
      });
      continue;
    }
    virtio.push(
      replayDevice(d, d.kind === 'net' ? nics++ : -1, gate, {
        stdout: opts.console,
        netSent: opts.netSent,
      })!,
    );
  }
  const config: VirtConfig = {
    ...virtConfigOf(h, {
      bios: h.bios === 'none' ? 'none' : await image('bios', 'firmware', h.bios),
      kernel: await image('kernel', 'kernel', h.kernel),
      initrd: h.initrd ? await image('initrd', 'initrd', h.initrd) : undefined,
    }),
    virtio,
  };
  const snapshot = h.snapshot ? await image('snapshot', 'snapshot', h.snapshot) : undefined;
  if (opts.warmUp ?? true) warmUpOnce();
  const vm = new VirtMachine(config, opts.console);
  if (snapshot) {
    try {
      restoreSnapshot(vm, readSnapshot(snapshot));
    } catch (e) {
      if (e instanceof SnapshotError)
        throw new ReplayOpenError(`${h.snapshot!.path}: ${e.message}`);
      throw e;
    }
  }
  gate.attach(vm);
  const replayer = new Replayer(vm, rec.events, gate, opts.verify ?? true, undefined, rec.version);
  // Seeks start from the recording's own checkpoints too, as in Node.
  if (rec.checkpoints.length) replayer.useFileCheckpoints(new FileCheckpoints(rec));
  if (opts.checkpoints) replayer.enableCheckpoints(opts.checkpoints);
  return {
    rec,
    vm,
    gate,
    replayer,
    lastIcount: rec.events.lastIcount ?? vm.cpu.icount,
    // Found when the file is read, or later, when the replay reaches a damaged chunk.
    get damage() {
      return rec.events.damage ?? rec.damage;
    },
    warnings,
  };
}
