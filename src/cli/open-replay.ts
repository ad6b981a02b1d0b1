/**
 * Opening a recording for replay: read and check the file, find and verify
 * its images, build the machine as it was recorded (devices fed only from
 * the log) and the replayer. Shared by `vmrs replay` and the tests/tools
 * that seek in a replay.
 */
import { warmUpInterpreterOnce } from './warm-up.js';
import { UsageError } from './options.js';
import { RecordingFormatError, readRecording, type ParsedRecording } from '../replay/log-format.js';
import { ReplayGate } from '../replay/replay-gate.js';
import {
  diskRequestObserver,
  replayDevice,
  virtConfigOf,
  type LoadedImages,
  type ReplayDeviceHooks,
} from '../replay/replay-devices.js';
import { Replayer, type Perturbation } from '../replay/replayer.js';
import { VirtMachine, type VirtConfig, type VirtioSpec } from '../machine/virt.js';
import {
  EmbeddedImageMissing,
  configFromDescription,
  loadImage,
  loadImagesAsync,
} from './machine-description.js';

/** vmrs replay's status for a recording that ends without its end marker (replay.ts REPLAY_TRUNCATED). */
const REPLAY_ENDS_EARLY = 3;
import { readSnapshot, restoreSnapshot } from '../snapshot/snapshot-file.js';
import { SnapshotError } from '../snapshot/state.js';
import { MemoryCowStore } from '../host/block-cow.js';
import { imageFileDigest } from '../host/digest-cache.js';
import { ImageFile, ImageFileError } from '../host/image-file.js';
import { RecordingFile } from '../host/recording-file.js';
import { FileCheckpoints } from '../replay/file-checkpoints.js';

export interface OpenedReplay {
  rec: ParsedRecording;
  vm: VirtMachine;
  gate: ReplayGate;
  replayer: Replayer;
  /** Close the disk images (a process that replays once need not). */
  close(): void;
}

/** A recording file read and checked; a missing or unreadable one is a UsageError. */
export function readRecordingFile(file: string): ParsedRecording {
  let source: RecordingFile;
  try {
    // A regular file only: a device or FIFO given as a recording would never end or block.
    // Read a piece at a time, as the replay reaches it (see RecordingSource).
    source = RecordingFile.open(file);
  } catch (e) {
    if (e instanceof ImageFileError) throw new UsageError(e.message);
    throw e;
  }
  try {
    return readRecording(source);
  } catch (e) {
    source.close();
    if (e instanceof RecordingFormatError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

export interface OpenReplayOptions {
  verify: boolean;
  log: (s: string) => void;
  stdout: (byte: number) => void;
  /** A frame the guest sent on NIC `nic` (by default nobody hears it). */
  netSent?: (nic: number, frame: Uint8Array) => void;
  /** A request a disk carried out (the timeline's and the trace's disk requests). */
  diskRequest?: ReplayDeviceHooks['diskRequest'];
}

/** Throws UsageError for a missing or unreadable file and for missing or changed images. */
export function openReplay(file: string, opts: OpenReplayOptions): OpenedReplay {
  return openReplayOf(readRecordingFile(file), opts);
}

/**
 * openReplay for the commands: the firmware, kernel and initrd are read on
 * libuv's thread pool while the interpreter warms up (loadImagesAsync),
 * as `vmrs run` reads its images.
 */
export async function openReplayAsync(
  file: string,
  opts: OpenReplayOptions,
): Promise<OpenedReplay> {
  const rec = readRecordingFile(file);
  let images: LoadedImages;
  try {
    images = await loadImagesAsync(rec.header, rec.images, warmUpInterpreterOnce);
  } catch (e) {
    rec.source.close?.();
    throw endsEarly(rec, e);
  }
  return openReplayOf(rec, opts, images);
}

/**
 * The machine and replayer of a recording already read (UsageError for
 * missing or changed images); `images` when they were loaded already.
 */
export function openReplayOf(
  rec: ParsedRecording,
  opts: OpenReplayOptions,
  images?: LoadedImages,
): OpenedReplay {
  const { log, stdout } = opts;
  const h = rec.header;
  if (rec.damage) log(`warning: ${rec.damage}; replaying the ${rec.chunks} whole chunks before it`);
  for (const n of rec.notes) log(`warning: the recorder noted at icount ${n.icount}: ${n.text}`);
  const gate = new ReplayGate(rec.events);
  const virtio: VirtioSpec[] = [];
  let nics = 0;
  // Disk images opened here are closed with their stores; on an error before that, here.
  const opened: ImageFile[] = [];
  let vm: VirtMachine;
  try {
    h.devices.forEach((d, i) => {
      switch (d.kind) {
        case 'blk': {
          if (d.disk.embedded) {
            const data = loadImage(rec.images, `disk${i}`, 'disk image', d.disk);
            virtio.push({
              kind: 'blk',
              store: new MemoryCowStore(data, d.disk.readOnly),
              serial: d.disk.serial,
            });
          } else {
            // Opened once: its size checked before hashing, hashed and served through one descriptor.
            let image: ImageFile;
            try {
              image = ImageFile.open(d.disk.path, 'disk image');
            } catch (e) {
              throw new UsageError(
                (e as Error).message.endsWith('does not exist')
                  ? `disk image '${d.disk.path}' used by the recording is not there`
                  : (e as Error).message,
              );
            }
            opened.push(image);
            if (image.size !== d.disk.size)
              throw new UsageError(
                `disk image '${d.disk.path}' is not the one recorded (${image.size} bytes, recorded ${d.disk.size})`,
              );
            if (imageFileDigest(image) !== d.disk.sha256)
              throw new UsageError(
                `disk image '${d.disk.path}' is not the one recorded (its digest differs)`,
              );
            virtio.push({
              kind: 'blk',
              store: new MemoryCowStore(image, d.disk.readOnly),
              serial: d.disk.serial,
            });
          }
          break;
        }
        default: {
          const spec = replayDevice(d, d.kind === 'net' ? nics++ : -1, gate, opts);
          if (spec) virtio.push(spec);
        }
      }
    });
    // Disks pass the replay gate: the calls that failed in the recording fail again.
    let disk = 0;
    for (const s of virtio)
      if (s.kind === 'blk') {
        s.onRequest = diskRequestObserver(disk, opts);
        s.store = gate.disk(s.store, disk++);
      }
    const config: VirtConfig = {
      ...(images ? virtConfigOf(h, images) : configFromDescription(h, rec.images)),
      virtio,
    };
    warmUpInterpreterOnce();
    vm = new VirtMachine(config, stdout);
    if (h.snapshot) {
      // The recording started from a snapshot, not a boot.
      const bytes = loadImage(rec.images, 'snapshot', 'snapshot', h.snapshot);
      try {
        restoreSnapshot(vm, readSnapshot(bytes));
      } catch (e) {
        if (e instanceof SnapshotError) throw new UsageError(`${h.snapshot.path}: ${e.message}`);
        throw e;
      }
    }
  } catch (e) {
    for (const img of opened) img.close();
    throw endsEarly(rec, e);
  }
  gate.attach(vm);
  const replayer = new Replayer(
    vm,
    rec.events,
    gate,
    opts.verify,
    parsePerturbation(process.env.VMRS_TEST_PERTURB),
    rec.version,
  );
  if (rec.checkpoints.length) replayer.useFileCheckpoints(new FileCheckpoints(rec));
  const close = () => {
    for (const v of virtio) if (v.kind === 'blk') v.store.close();
    rec.source.close?.();
  };
  return { rec, vm, gate, replayer, close };
}

/** `e`, or what it means when an embedded image is missing from a recording cut short. */
function endsEarly(rec: ParsedRecording, e: unknown): unknown {
  if (e instanceof EmbeddedImageMissing && (rec.cutShort || rec.damage === undefined))
    // No damaged chunk: the file just ends before the image. A recorder stopped before it
    // wrote its images left a recording that ends before it begins.
    return new UsageError(
      `the recording ends at icount ${rec.header.startIcount ?? 0} without an end marker, before its embedded ${e.what} (its recorder was stopped before writing it): nothing to replay`,
      REPLAY_ENDS_EARLY,
    );
  return e;
}

function parsePerturbation(spec: string | undefined): Perturbation | undefined {
  // Test-only (VMRS_TEST_PERTURB): "x5@ICOUNT" flips a register's low bit, "ram:ADDR@ICOUNT" a RAM
  // byte's, "dev:PATH@ICOUNT" a device field's (PATH walks the machine's objects: uart.scr,
  // virtio.0.queues.0.lastAvail; a number's low bit or a boolean flips).
  if (!spec) return undefined;
  const m = /^(?:x(\d+)|ram:(0x[0-9a-f]+)|dev:([\w.]+))@(\d+)$/i.exec(spec);
  if (!m) throw new UsageError(`VMRS_TEST_PERTURB: bad spec '${spec}'`);
  const icount = Number(m[4]);
  if (m[1] !== undefined) {
    const r = Number(m[1]);
    return { icount, apply: (vm) => void (vm.cpu.regs[r << 1] ^= 1) };
  }
  if (m[3] !== undefined) {
    const path = m[3].split('.');
    const field = path.pop()!;
    return {
      icount,
      apply: (vm) => {
        let o = vm as unknown as Record<string, unknown>;
        for (const k of path) o = o[k] as Record<string, unknown>;
        const v = o[field];
        if (typeof v === 'boolean') o[field] = !v;
        else if (typeof v === 'number') o[field] = v ^ 1;
        else throw new Error(`VMRS_TEST_PERTURB: ${m[3]} is not a number or boolean`);
      },
    };
  }
  const addr = Number(m[2]);
  return {
    icount,
    apply: (vm) => {
      vm.bus.ram8[addr - vm.bus.ramBase] ^= 1;
      vm.bus.noteDmaWrite(addr, 1);
    },
  };
}
