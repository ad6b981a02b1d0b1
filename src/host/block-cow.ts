/**
 * Copy-on-write disks over a base image that is never written:
 *
 * - MemoryCowStore (`snapshot=on`): written clusters live in memory and
 *   vanish at exit. Memory grows with what the guest writes.
 * - OverlayStore (`overlay=F`): written clusters go to an overlay file, which
 *   later runs (and recordings) reopen. Its format:
 *
 *     offset  size  field
 *     0       8     magic "VMRSOVL1"
 *     8       4     version (1), little-endian like every field
 *     12      4     log2 of the cluster size (16: 64 KiB — big enough to keep
 *                   the table small, small enough that a 512-byte write
 *                   copies little)
 *     16      8     virtual size in bytes (= the base's usable size)
 *     24      8     base image size in bytes
 *     32      32    SHA-256 of the base image: an overlay refuses a changed base
 *     64      4     number of table entries (clusters of the virtual disk)
 *     4096    4·n   cluster table: entry i = offset of cluster i's data in
 *                   units of the cluster size, 0 = not written (read the base)
 *     ...           data clusters, cluster-aligned, appended as written
 *
 *   A write puts the data first and the table entry after, so a crash
 *   leaves at worst an unreferenced cluster, never a table entry that
 *   points at garbage.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { BlockIoError } from '../devices/virtio/backends.js';
import {
  CLUSTER,
  CLUSTER_BITS,
  CowStore,
  MemoryCowStore as MemoryCowCore,
  type BaseImage,
  type Fresh,
  type InPlace,
} from '../devices/virtio/cow-store.js';
import { DriveError } from './drive-options.js';
import { openImage, preadFull, pwriteFull } from './block-file.js';
import { imageDigest, imageFileDigest } from './digest-cache.js';
import { ImageFile } from './image-file.js';

const MAGIC = 'VMRSOVL1';
const VERSION = 1;
const TABLE_OFFSET = 4096;

/** A base image file (by path, or already open and checked), never written. */
function fileBase(image: string | ImageFile): BaseImage & { fd: number } {
  if (typeof image !== 'string') {
    const size = Math.floor(image.size / 512) * 512;
    if (size === 0)
      throw new DriveError(`disk image '${image.path}' is smaller than one 512-byte sector`);
    return {
      fd: image.fd,
      size,
      read: (dest, offset) => preadFull(image.fd, dest, offset),
      close: () => image.close(),
    };
  }
  const { fd, size } = openImage(image, false);
  return {
    fd,
    size,
    read: (dest, offset) => preadFull(fd, dest, offset),
    close: () => closeSync(fd),
  };
}

/** Copy-on-write in memory over an image file (by path, or open) or image bytes; the image is never written. */
export class MemoryCowStore extends MemoryCowCore {
  constructor(image: string | ImageFile | Uint8Array, readOnly: boolean) {
    super(image instanceof Uint8Array ? image : fileBase(image), readOnly);
  }
}

export interface OverlayInfo {
  version: number;
  clusterSize: number;
  virtualSize: number;
  baseSize: number;
  baseDigest: string;
  allocatedClusters: number;
}

export class OverlayStore extends CowStore {
  private readonly fd: number;
  private readonly table: Uint32Array;
  private nextCluster: number;

  /**
   * Open or create `overlayPath` over `baseImage`. The base's digest is
   * checked against the overlay's header unless `baseDigest` is given by a
   * caller that has just computed it.
   */
  constructor(
    baseImage: string | ImageFile,
    readonly overlayPath: string,
    readOnly: boolean,
    baseDigest?: string,
  ) {
    const base = fileBase(baseImage);
    super(base, readOnly);
    const digest =
      baseDigest ??
      (typeof baseImage === 'string' ? imageDigest(baseImage) : imageFileDigest(baseImage));
    const baseSize = fstatSync(base.fd).size;
    const entries = Math.ceil(this.size / CLUSTER);
    this.table = new Uint32Array(entries);
    const tableBytes = entries * 4;
    const dataStart = Math.ceil((TABLE_OFFSET + tableBytes) / CLUSTER) * CLUSTER;
    if (!existsSync(overlayPath)) {
      this.fd = openSync(overlayPath, 'w+');
      const hdr = new Uint8Array(TABLE_OFFSET);
      const dv = new DataView(hdr.buffer);
      hdr.set(new TextEncoder().encode(MAGIC), 0);
      dv.setUint32(8, VERSION, true);
      dv.setUint32(12, CLUSTER_BITS, true);
      dv.setBigUint64(16, BigInt(this.size), true);
      dv.setBigUint64(24, BigInt(baseSize), true);
      hdr.set(Buffer.from(digest, 'hex'), 32);
      dv.setUint32(64, entries, true);
      pwriteFull(this.fd, hdr, 0);
      pwriteFull(this.fd, new Uint8Array(this.table.buffer), TABLE_OFFSET);
      fsyncSync(this.fd);
      this.nextCluster = dataStart / CLUSTER;
      return;
    }
    try {
      this.fd = openSync(overlayPath, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw new DriveError(`cannot open overlay '${overlayPath}': ${(e as Error).message}`);
    }
    const info = readHeader(this.fd, overlayPath);
    const bad = (why: string) => {
      closeSync(this.fd);
      return new DriveError(`overlay '${overlayPath}': ${why}`);
    };
    if (info.baseSize !== baseSize || info.baseDigest !== digest)
      throw bad(
        `its base image '${typeof baseImage === 'string' ? baseImage : baseImage.path}' has changed since the overlay was made (digest differs)`,
      );
    if (info.virtualSize !== this.size || info.entries !== entries)
      throw bad('size does not match its base image');
    const fileSize = fstatSync(this.fd).size;
    if (fileSize < TABLE_OFFSET + tableBytes) throw bad('truncated cluster table');
    preadFull(this.fd, new Uint8Array(this.table.buffer), TABLE_OFFSET);
    let maxCluster = dataStart / CLUSTER - 1;
    for (let i = 0; i < entries; i++) {
      const e = this.table[i];
      if (e === 0) continue;
      if (e * CLUSTER < dataStart || (e + 1) * CLUSTER > fileSize)
        throw bad(`cluster table entry ${i} points outside the file`);
      if (e > maxCluster) maxCluster = e;
    }
    this.nextCluster = Math.max(maxCluster + 1, Math.ceil(fileSize / CLUSTER));
  }

  protected readCluster(c: number, off: number, dest: Uint8Array): boolean {
    const e = this.table[c];
    if (!e) return false;
    preadFull(this.fd, dest, e * CLUSTER + off);
    return true;
  }

  protected hasCluster(c: number): boolean {
    return this.table[c] !== 0;
  }

  /**
   * New clusters' data first (appended: until the table points at it, a
   * failure changes nothing the guest reads), then writes in place (a failure
   * may leave part done: `partial`), then the table entries, on file and
   * then in memory (a failure leaves the guest's view as it was).
   */
  protected apply(inPlace: InPlace[], fresh: Fresh[]): void {
    const first = this.nextCluster;
    const fail = (e: unknown, partial: boolean) =>
      new BlockIoError(`write: ${(e as Error).message}`, partial);
    try {
      fresh.forEach((f, i) => pwriteFull(this.fd, f.data, (first + i) * CLUSTER));
    } catch (e) {
      throw fail(e, false);
    }
    this.nextCluster = first + fresh.length;
    try {
      for (const w of inPlace) pwriteFull(this.fd, w.part, this.table[w.c] * CLUSTER + w.off);
    } catch (e) {
      throw fail(e, true);
    }
    try {
      const entry = new Uint32Array(1);
      fresh.forEach((f, i) => {
        entry[0] = first + i;
        pwriteFull(this.fd, new Uint8Array(entry.buffer), TABLE_OFFSET + f.c * 4);
      });
    } catch (e) {
      throw fail(e, inPlace.length > 0);
    }
    fresh.forEach((f, i) => (this.table[f.c] = first + i));
  }

  flush(): void {
    try {
      fsyncSync(this.fd);
    } catch (e) {
      throw new BlockIoError(`flush: ${(e as Error).message}`);
    }
  }

  protected closeOverlay(): void {
    closeSync(this.fd);
  }
}

interface Header extends OverlayInfo {
  entries: number;
}

function readHeader(fd: number, path: string): Header {
  const hdr = new Uint8Array(TABLE_OFFSET);
  preadFull(fd, hdr, 0);
  const dv = new DataView(hdr.buffer);
  if (new TextDecoder().decode(hdr.subarray(0, 8)) !== MAGIC)
    throw new DriveError(`'${path}' is not a vmrs overlay (bad magic)`);
  const version = dv.getUint32(8, true);
  if (version !== VERSION)
    throw new DriveError(`overlay '${path}': unsupported version ${version}`);
  if (dv.getUint32(12, true) !== CLUSTER_BITS)
    throw new DriveError(`overlay '${path}': unsupported cluster size`);
  return {
    version,
    clusterSize: CLUSTER,
    virtualSize: Number(dv.getBigUint64(16, true)),
    baseSize: Number(dv.getBigUint64(24, true)),
    baseDigest: Buffer.from(hdr.subarray(32, 64)).toString('hex'),
    entries: dv.getUint32(64, true),
    allocatedClusters: 0,
  };
}

/** Header fields and how much of the disk the overlay holds. */
export function overlayInfo(path: string): OverlayInfo {
  const fd = openSync(path, 'r');
  try {
    const h = readHeader(fd, path);
    const table = new Uint32Array(h.entries);
    preadFull(fd, new Uint8Array(table.buffer), TABLE_OFFSET);
    let n = 0;
    for (const e of table) if (e) n++;
    const { entries: _entries, ...info } = h;
    void _entries;
    return { ...info, allocatedClusters: n };
  } finally {
    closeSync(fd);
  }
}
