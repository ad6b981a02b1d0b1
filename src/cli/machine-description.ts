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
import { virtConfigOf, type LoadedImages } from '../replay/replay-devices.js';
import { NIC_LINK_AT_START, diskDigest, type DiskInfo, type ParsedDevices } from './devices.js';
import { readBytesDigest } from '../host/digest-cache.js';
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
    return { path, size: data.length, sha256: readBytesDigest(data), embedded: embed };
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
function openRecordedImage(ref: ImageRef, what: string): ImageFile {
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
  if (img.size !== ref.size) {
    img.close();
    throw new UsageError(
      `${what} '${ref.path}' is not the one recorded (${img.size} bytes, recorded ${ref.size})`,
    );
  }
  return img;
}

const readError = (e: unknown) =>
  e instanceof UsageError ? e : new UsageError((e as Error).message);

function readRecordedImage(ref: ImageRef, what: string): Uint8Array {
  return openRecordedImage(ref, what).readAllAndClose(readError);
}

/** readRecordedImage on libuv's thread pool; the file is opened and checked at once. */
function readRecordedImageAsync(ref: ImageRef, what: string): Promise<Uint8Array> {
  return openRecordedImage(ref, what).readAllAsyncAndClose(readError);
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
  return checked(
    ref.embedded ? embeddedImage(images, name, what) : readRecordedImage(ref, what),
    what,
    ref,
  );
}

function embeddedImage(images: EmbeddedImages, name: string, what: string): Uint8Array {
  let data: Uint8Array | undefined;
  try {
    data = images.get(name);
  } catch (e) {
    if (e instanceof RecordingFormatError) throw new UsageError(e.message);
    throw e;
  }
  if (!data) throw new EmbeddedImageMissing(what);
  return data;
}

/** `data`, if it is the image the description names (its SHA-256). */
function checked(data: Uint8Array, what: string, ref: ImageRef): Uint8Array {
  const d = readBytesDigest(data);
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

/**
 * The images of a description, those named by path read on libuv's thread
 * pool while `whileReading` runs on this thread (the interpreter's warm-up:
 * see machineConfig in run.ts). Every file is opened and checked, and every
 * embedded image taken, before the reads start; the digests are checked
 * after them, firmware, kernel and initrd in turn.
 */
export async function loadImagesAsync(
  d: MachineDescription,
  images: EmbeddedImages,
  whileReading: () => void,
): Promise<LoadedImages> {
  const start = (name: string, what: string, ref: ImageRef): Promise<Uint8Array> => {
    if (ref.embedded) return Promise.resolve(embeddedImage(images, name, what));
    const p = readRecordedImageAsync(ref, what);
    p.catch(() => {}); // awaited below; not left unobserved if a later start throws
    return p;
  };
  const bios = d.bios === 'none' ? undefined : start('bios', 'firmware', d.bios);
  const kernel = start('kernel', 'kernel', d.kernel);
  const initrd = d.initrd ? start('initrd', 'initrd', d.initrd) : undefined;
  whileReading();
  return {
    bios: d.bios === 'none' ? 'none' : checked(await bios!, 'firmware', d.bios),
    kernel: checked(await kernel, 'kernel', d.kernel),
    initrd: d.initrd ? checked(await initrd!, 'initrd', d.initrd) : undefined,
  };
}
