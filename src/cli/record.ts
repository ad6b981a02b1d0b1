/** `vmrs record -o FILE [machine options]`: run a machine and write its recording. */
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { runCommand, type MachineOptions } from './run.js';
import { UsageError } from './options.js';
import { Recorder } from '../replay/recorder.js';
import {
  FORMAT_VERSION,
  type DeviceRef,
  type ImageRef,
  type RecordingHeader,
} from '../replay/log-format.js';
import { bytesDigest } from '../host/file-digest.js';
import { VMRS_VERSION } from './version.js';

export interface RecordOptions extends MachineOptions {
  output: string;
  embed?: boolean;
  digestInterval: string;
}

const hexMac = (m: Uint8Array) => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

export async function recordCommand(opts: RecordOptions): Promise<number> {
  const interval = Number(opts.digestInterval);
  if (!Number.isSafeInteger(interval) || interval < 0)
    throw new UsageError(
      '--digest-interval must be a whole number of instructions (0: no digests)',
    );
  let fd: number;
  try {
    fd = openSync(opts.output, 'w');
  } catch (e) {
    throw new UsageError(
      `cannot write the recording '${opts.output}': ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  let recorder: Recorder | undefined;
  try {
    const status = await runCommand(opts, {
      makeRecorder: (config, parsed, disks) => {
        const images = new Map<string, Uint8Array>();
        const ref = (name: string, path: string, data: Uint8Array): ImageRef => {
          if (opts.embed) images.set(name, data);
          return { path, size: data.length, sha256: bytesDigest(data), embedded: !!opts.embed };
        };
        const devices: DeviceRef[] = [];
        for (const [i, d] of disks.entries()) {
          if (opts.embed) images.set(`disk${i}`, new Uint8Array(readFileSync(d.path)));
          devices.push({ kind: 'blk', disk: { ...d, embedded: !!opts.embed } });
        }
        parsed.nets.forEach((n, i) =>
          devices.push({
            kind: 'net',
            mac: hexMac(n.mac ?? Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56 + i)),
            linkUp: true,
            backend: n.kind === 'user' ? 'user' : `socket ${n.mode}`,
          }),
        );
        if (parsed.rng) devices.push({ kind: 'rng' });
        if (parsed.hvc)
          devices.push({ kind: 'console', target: parsed.hvc.kind === 'stdio' ? 'stdio' : 'file' });
        const header: RecordingHeader = {
          formatVersion: FORMAT_VERSION,
          vmrsVersion: VMRS_VERSION,
          createdUnixMs: Date.now(),
          machine: {
            memoryBytes: config.memoryBytes,
            append: config.append,
            insnsPerTick: config.insnsPerTick,
            rtcStartUnixNs: config.rtcStartUnixNs,
            consoleOn: parsed.hvc?.kind === 'stdio' ? 'hvc' : 'uart',
          },
          bios: config.bios === 'none' ? 'none' : ref('bios', config.biosName, config.bios),
          kernel: ref('kernel', config.kernelName ?? 'kernel', config.kernel!),
          initrd: config.initrd
            ? ref('initrd', config.initrdName ?? 'initrd', config.initrd)
            : undefined,
          devices,
          digestInterval: interval,
        };
        recorder = new Recorder((b) => writeSync(fd, b), header, images);
        return recorder;
      },
    });
    return status;
  } finally {
    closeSync(fd);
    if (recorder && !opts.quiet)
      process.stderr.write(
        `[vmrs] recorded ${recorder.events} events in ${(statSync(opts.output).size / 1024).toFixed(1)} KiB to ${opts.output}\n`,
      );
  }
}
