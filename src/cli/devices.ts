/**
 * The virtio devices the command line asks for (--drive, --net, --rng,
 * --hvc), opened with their host backends, in slot order.
 */
import { appendFileSync, openSync, closeSync, existsSync } from 'node:fs';
import { DriveError } from '../host/drive-options.js';
import { MemoryCowStore, OverlayStore } from '../host/block-cow.js';
import { imageDigest, imageFileDigest } from '../host/digest-cache.js';
import { ImageFile, ImageFileError } from '../host/image-file.js';
import type { VirtioSpec } from '../machine/virt.js';
import type { BlockStore, ByteSink, EntropySource } from '../devices/virtio/backends.js';
import { parseDriveOption, type DriveSpec } from '../host/drive-options.js';
import { describeDrive, openDrive } from '../host/drive.js';
import { parseNetOption, type NetSpec } from '../host/net-options.js';
import { openNetBackend, type NetBackend } from '../host/net-backend.js';
import { UsageError } from './options.js';

export interface DeviceOptions {
  drive?: string[];
  net?: string[];
  rng?: boolean;
  hvc?: string;
}

export type HvcTarget = { kind: 'stdio' } | { kind: 'file'; path: string };

export interface ParsedDevices {
  drives: DriveSpec[];
  nets: NetSpec[];
  rng: boolean;
  hvc: HvcTarget | undefined;
}

/** Parse without opening anything: bad specs fail before the guest is built. */
export function parseDevices(opts: DeviceOptions): ParsedDevices {
  const drives = (opts.drive ?? []).map(parseDriveOption);
  const nets = (opts.net ?? []).map(parseNetOption);
  let hvc: HvcTarget | undefined;
  if (opts.hvc !== undefined) {
    if (opts.hvc === 'stdio') hvc = { kind: 'stdio' };
    else if (opts.hvc.startsWith('file=') && opts.hvc.length > 5)
      hvc = { kind: 'file', path: opts.hvc.slice(5) };
    else throw new UsageError(`--hvc: expected 'stdio' or 'file=PATH', not '${opts.hvc}'`);
  }
  const n = drives.length + nets.length + (opts.rng ? 1 : 0) + (hvc ? 1 : 0);
  if (n > 8) throw new UsageError(`too many virtio devices (${n}); the virt board has 8 slots`);
  return { drives, nets, rng: !!opts.rng, hvc };
}

export interface DeviceHooks {
  /** A frame from the host for NIC `nic` (to pass through the gate). */
  onFrame(nic: number, frame: Uint8Array): void;
  onLink(nic: number, up: boolean): void;
  /** hvc0 output when it is on stdio. */
  stdioSink: ByteSink;
  log(s: string): void;
}

/** A disk as a recording names it: its base image and that image's digest. */
export interface DiskInfo {
  path: string;
  size: number;
  sha256: string;
  serial: string;
  readOnly: boolean;
  /** The base image, open (copy-on-write disks): its digest and changes are read through it. */
  image?: ImageFile;
}

/** SHA-256 of a disk's base image (through its open descriptor where there is one). */
export function diskDigest(d: DiskInfo): string {
  return d.sha256 || (d.image ? imageFileDigest(d.image) : imageDigest(d.path, 'disk image'));
}

/** A disk's base image, opened once (a regular file only). */
function openDiskImage(path: string): ImageFile {
  try {
    return ImageFile.open(path, 'disk image');
  } catch (e) {
    if (e instanceof ImageFileError) throw new DriveError(e.message);
    throw e;
  }
}

export interface OpenDevices {
  specs: VirtioSpec[];
  nets: NetBackend[];
  disks: DiskInfo[];
  close(): Promise<void>;
}

/**
 * Link state of every NIC when the machine is built: cable out. Whether the
 * backend is connected is host state (a wire's peer may come and go at any
 * moment), so it reaches the guest only through the gate, as a link event
 * logged once the machine runs (runCommand), like every later change.
 */
export const NIC_LINK_AT_START = false;

/** Default MAC of NIC n: QEMU's 52:54:00:12:34:56, counting up. */
function defaultMac(n: number): Uint8Array {
  return Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + n);
}

export async function openDevices(
  p: ParsedDevices,
  hooks: DeviceHooks,
  entropy: EntropySource,
  mode: 'run' | 'record' = 'run',
): Promise<OpenDevices> {
  const specs: VirtioSpec[] = [];
  const disks: DiskInfo[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  const nets: NetBackend[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    for (const d of p.drives) {
      const name = `vd${String.fromCharCode(97 + specs.length)}`;
      let store: BlockStore;
      if (mode === 'record') {
        // A recording must be able to start again from the same disk: the base image
        // is never written; writes go to memory, or to a new overlay the user names.
        if (d.overlay && existsSync(d.overlay))
          throw new UsageError(
            `--drive overlay=${d.overlay}: when recording, the overlay must be a new file (the replay starts from the base image)`,
          );
        // Opened once: hashed, served to the guest and checked at the end through one descriptor.
        const image = openDiskImage(d.file);
        closers.push(() => image.close());
        const sha256 = imageFileDigest(image);
        if (d.overlay) {
          store = new OverlayStore(image, d.overlay, d.readOnly, sha256);
        } else {
          store = new MemoryCowStore(image, d.readOnly);
          if (!d.snapshot && !d.readOnly)
            hooks.log(
              `${name}: writes are kept in memory while recording (add overlay=FILE to keep them)`,
            );
        }
        disks.push({
          path: d.file,
          size: image.size,
          sha256,
          serial: d.serial,
          readOnly: d.readOnly,
          image,
        });
      } else {
        // A copy-on-write disk's base is opened once here; its digest is taken through it
        // when a snapshot needs it (only copy-on-write disks can be saved).
        const image = d.snapshot || d.overlay ? openDiskImage(d.file) : undefined;
        if (image) closers.push(() => image.close());
        store = openDrive(d, undefined, image);
        disks.push({
          path: d.file,
          size: image?.size ?? store.size,
          sha256: '',
          serial: d.serial,
          readOnly: d.readOnly,
          image,
        });
      }
      closers.push(() => store.close());
      hooks.log(`disk ${name}: ${describeDrive(d)}`);
      specs.push({ kind: 'blk', store, serial: d.serial });
    }
    for (const [i, n] of p.nets.entries()) {
      const backend = await openNetBackend(n, {
        onFrame: (f) => hooks.onFrame(i, f),
        onLink: (up) => hooks.onLink(i, up),
        log: hooks.log,
      });
      closers.push(() => backend.close());
      nets.push(backend);
      specs.push({
        kind: 'net',
        sink: backend,
        mac: n.mac ?? defaultMac(i),
        linkUp: NIC_LINK_AT_START,
      });
    }
    if (p.rng) specs.push({ kind: 'rng', source: entropy });
    if (p.hvc) {
      let sink: ByteSink;
      if (p.hvc.kind === 'stdio') sink = hooks.stdioSink;
      else {
        const path = p.hvc.path;
        closeSync(openSync(path, 'w'));
        // Output only: a host write error loses output, never the run (nor a recording).
        let failed = false;
        sink = {
          write: (b) => {
            if (failed) return;
            try {
              appendFileSync(path, b);
            } catch (e) {
              failed = true;
              hooks.log(`hvc0 output to ${path} stopped: ${(e as Error).message}`);
            }
          },
        };
      }
      specs.push({ kind: 'console', sink });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { specs, nets, disks, close };
}
