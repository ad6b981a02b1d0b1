/**
 * The machine as recordings and snapshots describe it: configuration,
 * images by path and digest (or embedded), and devices by slot. Written when
 * recording or saving; read back to rebuild the same machine.
 */
import { UsageError } from './options.js';
import {
  RecordingFormatError,
  type DeviceRef,
  type EmbeddedImages,
  type ImageRef,
  type MachineDescription,
} from '../replay/log-format.js';
import type { VirtConfig } from '../machine/virt.js';
import { virtConfigOf } from '../replay/replay-devices.js';
import { NIC_LINK_AT_START, diskDigest, type DiskInfo, type ParsedDevices } from './devices.js';
import { bytesDigest } from '../host/file-digest.js';
import { ImageFile, readImageFile } from '../host/image-file.js';

export type { MachineDescription };

const hexMac = (m: Uint8Array) => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

/** Describe a machine; with `embed`, image bytes go into `images` under the names the refs use. */
export function describeMachine(
  config: VirtConfig,
  parsed: ParsedDevices,
  disks: DiskInfo[],
  embed: boolean,
  images: Map<string, Uint8Array>,
): MachineDescription {
  const ref = (name: string, path: string, data: Uint8Array): ImageRef => {
    if (embed) images.set(name, data);
    return { path, size: data.length, sha256: bytesDigest(data), embedded: embed };
  };
  const devices: DeviceRef[] = [];
  for (const [i, d] of disks.entries()) {
    if (embed)
      images.set(`disk${i}`, d.image ? d.image.readAll() : readImageFile(d.path, 'disk image'));
    devices.push({
      kind: 'blk',
      disk: {
        path: d.path,
        size: d.size,
        serial: d.serial,
        readOnly: d.readOnly,
        sha256: diskDigest(d),
        embedded: embed,
      },
    });
  }
  parsed.nets.forEach((n, i) =>
    devices.push({
      kind: 'net',
      mac: hexMac(n.mac ?? Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56 + i)),
      linkUp: NIC_LINK_AT_START,
      backend: n.kind === 'user' ? 'user' : `socket ${n.mode}`,
    }),
  );
  if (parsed.rng) devices.push({ kind: 'rng' });
  if (parsed.hvc)
    devices.push({ kind: 'console', target: parsed.hvc.kind === 'stdio' ? 'stdio' : 'file' });
  return {
    machine: {
      memoryBytes: config.memoryBytes,
      append: config.append,
      insnsPerTick: config.insnsPerTick,
      rtcStartUnixNs: config.rtcStartUnixNs,
      consoleOn: parsed.hvc?.kind === 'stdio' ? 'hvc' : 'uart',
    },
    bios: config.bios === 'none' ? 'none' : ref('bios', config.biosName, config.bios),
    kernel: ref('kernel', config.kernelName ?? 'kernel', config.kernel!),
    initrd: config.initrd ? ref('initrd', config.initrdName ?? 'initrd', config.initrd) : undefined,
    devices,
  };
}

/**
 * An image named by path in a recording or snapshot: a regular file of the
 * recorded size (checked before anything is read), read through one descriptor.
 */
function readRecordedImage(ref: ImageRef, what: string): Uint8Array {
  let img: ImageFile;
  try {
    img = ImageFile.open(ref.path, what);
  } catch (e) {
    const missing = (e as Error).message.endsWith('does not exist');
    throw new UsageError(
      missing
        ? `${what} '${ref.path}' is not there (record with --embed to carry images)`
        : (e as Error).message,
    );
  }
  try {
    if (img.size !== ref.size)
      throw new UsageError(
        `${what} '${ref.path}' is not the one recorded (${img.size} bytes, recorded ${ref.size})`,
      );
    return img.readAll();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  } finally {
    img.close();
  }
}

/** An image said to be embedded is not in the file (damage, or a recorder stopped before writing it). */
export class EmbeddedImageMissing extends UsageError {
  constructor(readonly what: string) {
    super(`the ${what} is said to be embedded, but it is not there (damaged file?)`);
  }
}

/** An image a description refers to: embedded, or found by path; its digest must match. */
export function loadImage(
  images: EmbeddedImages,
  name: string,
  what: string,
  ref: ImageRef,
): Uint8Array {
  let data: Uint8Array | undefined;
  if (ref.embedded) {
    try {
      data = images.get(name);
    } catch (e) {
      if (e instanceof RecordingFormatError) throw new UsageError(e.message);
      throw e;
    }
    if (!data) throw new EmbeddedImageMissing(what);
  } else {
    data = readRecordedImage(ref, what);
  }
  const d = bytesDigest(data);
  if (d !== ref.sha256)
    throw new UsageError(
      `${what} '${ref.path}' is not the one recorded (sha256 ${d.slice(0, 16)}…, recorded ${ref.sha256.slice(0, 16)}…)`,
    );
  return data;
}

/** The machine configuration of a description, its images loaded (devices are added by the caller). */
export function configFromDescription(d: MachineDescription, images: EmbeddedImages): VirtConfig {
  return virtConfigOf(d, {
    bios: d.bios === 'none' ? 'none' : loadImage(images, 'bios', 'firmware', d.bios),
    kernel: loadImage(images, 'kernel', 'kernel', d.kernel),
    initrd: d.initrd ? loadImage(images, 'initrd', 'initrd', d.initrd) : undefined,
  });
}
