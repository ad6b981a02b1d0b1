/** `vmrs record -o FILE [machine options]`: run a machine and write its recording. */
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { describeMachine } from './machine-description.js';
import { runCommand, type MachineOptions } from './run.js';
import { UsageError, parseInstructionCount } from './options.js';
import { Recorder } from '../replay/recorder.js';
import type { ImageRef, RecordingHeader } from '../replay/log-format.js';
import {
  DEFAULT_DIGEST_INTERVAL,
  ScheduleError,
  newRecordingHeader,
  parseCheckpointSchedule,
} from '../replay/record-settings.js';
import { bytesDigest } from '../host/file-digest.js';
import { imageDigest } from '../host/digest-cache.js';
import { unchangedSinceRead } from '../host/image-file.js';
import type { DiskInfo } from './devices.js';
import type { CheckpointSchedule } from '../replay/recorder.js';
import { deflateNative } from '../host/deflate-native.js';
import { prefaultOnPool } from '../host/prefault.js';

export interface RecordOptions extends MachineOptions {
  output: string;
  embed?: boolean;
  /** Not given: the default interval, spread out in fast code. */
  digestInterval?: string;
  checkpointEvery: string;
}

/**
 * Appends to the recording file. write(2) may take fewer bytes than asked
 * (a full disk, a file size limit): the rest is written until all is, and
 * after a failure nothing more is, so the file stays a prefix of the
 * recording — whole chunks, then at most one cut short, which readers
 * report as where the recording ends.
 */
function recordingWriter(fd: number, path: string): (bytes: Uint8Array) => void {
  let failed: Error | undefined;
  return (bytes) => {
    if (failed) throw failed;
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (e) {
      failed = new Error(
        `cannot write the recording '${path}' (${(e as NodeJS.ErrnoException).code ?? e}); it ends at its last whole chunk`,
      );
      throw failed;
    }
  };
}

export async function recordCommand(opts: RecordOptions): Promise<number> {
  // Not given: the default, spread out in fast code (digest-spacing.ts); given: kept exactly.
  const interval =
    opts.digestInterval === undefined
      ? DEFAULT_DIGEST_INTERVAL
      : parseInstructionCount('--digest-interval', opts.digestInterval);
  let schedule: CheckpointSchedule;
  try {
    schedule = parseCheckpointSchedule(opts.checkpointEvery);
  } catch (e) {
    if (e instanceof ScheduleError) throw new UsageError(e.message);
    throw e;
  }
  let fd: number;
  try {
    fd = openSync(opts.output, 'w');
  } catch (e) {
    throw new UsageError(
      `cannot write the recording '${opts.output}': ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  let recorder: Recorder | undefined;
  let imagesChanged: (() => string[]) | undefined;
  try {
    const status = await runCommand(opts, {
      beforeEnd: () => {
        // Said even with -q: the recording may not replay.
        for (const text of imagesChanged?.() ?? []) {
          process.stderr.write(`vmrs: warning: ${text}\n`);
          recorder?.note(text);
        }
      },
      makeRecorder: (config, parsed, disks, snapshot) => {
        const images = new Map<string, Uint8Array>();
        const embed = !!opts.embed;
        const desc = describeMachine(config, parsed, disks, embed, images);
        let snapshotRef: ImageRef | undefined;
        if (snapshot) {
          if (embed) images.set('snapshot', snapshot.bytes);
          snapshotRef = {
            path: snapshot.path,
            size: snapshot.bytes.length,
            sha256: bytesDigest(snapshot.bytes),
            embedded: embed,
          };
        }
        const header = newRecordingHeader({
          ...desc,
          digestInterval: interval,
          snapshot: snapshotRef,
          startIcount: snapshot?.snap.header.icount,
        });
        recorder = new Recorder(recordingWriter(fd, opts.output), header, {
          images,
          schedule,
          compress: deflateNative,
          prefault: prefaultOnPool,
          // An interval given is kept exactly; the default one spreads out in fast code.
          spreadDigests: opts.digestInterval === undefined,
        });
        const read = {
          firmware: config.bios === 'none' ? undefined : config.bios,
          kernel: config.kernel,
          initrd: config.initrd,
          snapshot: snapshot?.bytes,
        };
        imagesChanged = () => changedImages(header, disks, read);
        return recorder;
      },
    });
    return status;
  } finally {
    closeSync(fd);
    const off = recorder?.checkpointsOff;
    const written = recorder?.checkpointsWritten ?? 0;
    if (off)
      process.stderr.write(
        written
          ? `vmrs: warning: no checkpoints after the first ${written}: ${off}\n`
          : `vmrs: warning: no checkpoints in this recording: ${off}\n`,
      );
    if (recorder && !opts.quiet)
      process.stderr.write(
        `[vmrs] recorded ${recorder.events} events (${recorder.digestsTaken} state digests, ${recorder.digestMs.toFixed(0)} ms to take)` +
          (recorder.checkpointsWritten
            ? ` and ${recorder.checkpointsWritten} checkpoints (${(recorder.checkpointBytes / 1048576).toFixed(1)} MiB, ${recorder.checkpointMs.toFixed(0)} ms to capture)`
            : '') +
          ` in ${(statSync(opts.output).size / 1024).toFixed(1)} KiB to ${opts.output}\n`,
      );
  }
}

/**
 * Images the recording names by path that changed while it ran. A disk's
 * base image is read by the guest as it goes: a write to it means the guest
 * saw bytes the replay will not find. Firmware, kernel, initrd and snapshot
 * were read whole at the start (the header has the digest of those bytes):
 * a replay needs them as they were. A file whose identity shows it
 * unchanged since that read is not read and hashed again (two reads and a
 * SHA-256 of the kernel and initrd were 2% of a recorded boot).
 */
function changedImages(
  h: RecordingHeader,
  disks: DiskInfo[],
  read: Record<'firmware' | 'kernel' | 'initrd' | 'snapshot', Uint8Array | undefined>,
): string[] {
  const out: string[] = [];
  for (const [i, d] of disks.entries()) {
    const why = d.image?.changedSinceOpen();
    if (why)
      out.push(
        `disk image '${d.path}' (disk ${i}) changed while recording (${why}): the guest may have read bytes a replay will not find`,
      );
  }
  const refs: [keyof typeof read, ImageRef | 'none' | undefined][] = [
    ['firmware', h.bios],
    ['kernel', h.kernel],
    ['initrd', h.initrd],
    ['snapshot', h.snapshot],
  ];
  for (const [what, ref] of refs) {
    if (!ref || ref === 'none' || ref.embedded) continue;
    const bytes = read[what];
    if (bytes && unchangedSinceRead(bytes)) continue;
    let now: string;
    try {
      now = imageDigest(ref.path, what);
    } catch (e) {
      now = (e as Error).message;
    }
    if (now !== ref.sha256)
      out.push(
        `${what} '${ref.path}' changed while recording (it is not the file that was read): a replay needs the original (sha256 ${ref.sha256.slice(0, 16)}…); record with --embed to carry it`,
      );
  }
  return out;
}
