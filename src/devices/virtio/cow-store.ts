/**
 * Copy-on-write over a disk image that is never written, the part without
 * host files: the cluster bookkeeping every such store shares (CowStore),
 * and MemoryCowStore, whose written clusters live in memory — over image
 * bytes here (a recording's embedded disk, or one fetched by the browser),
 * over an image file in src/host/block-cow.ts, which also has the overlay
 * file store. Node-free: the browser replays disks with it.
 */
import { BlockIoError, type BlockStore, type WrittenClusters } from './backends.js';
import { SnapshotError, type State } from '../../snapshot/state.js';

export const CLUSTER_BITS = 16;
export const CLUSTER = 1 << CLUSTER_BITS;

/** What a copy-on-write layer reads the clusters it has not written from. */
export interface BaseImage {
  readonly size: number;
  read(dest: Uint8Array, offset: number): void;
  close(): void;
}

/** A base image already in memory (a recording's embedded disk), never written. */
export function bytesBase(data: Uint8Array): BaseImage {
  return {
    size: Math.floor(data.length / 512) * 512,
    read: (dest, offset) => dest.set(data.subarray(offset, offset + dest.length)),
    close: () => {},
  };
}

/** Part of a write that lands in a cluster already written. */
export interface InPlace {
  c: number;
  off: number;
  part: Uint8Array;
}

/** A cluster written for the first time: the base's bytes with the write on top. */
export interface Fresh {
  c: number;
  data: Uint8Array;
}

/**
 * Where written clusters are kept. A write first reads the base of every
 * cluster it writes for the first time (a failure there changes nothing),
 * then applies all of it; only an overlay file failing during the second
 * step can leave part of a write done, and it says so (BlockIoError.partial).
 */
export abstract class CowStore implements BlockStore, WrittenClusters {
  readonly size: number;
  readonly clusterSize = CLUSTER;
  /** Clusters written since takeChanged() last ran (checkpoints hold only these anew). */
  protected readonly changed = new Set<number>();

  constructor(
    protected readonly base: BaseImage,
    readonly readOnly: boolean,
  ) {
    this.size = base.size;
  }

  /** Read written cluster `c` into dest at cluster offset `off`; false if not written. */
  protected abstract readCluster(c: number, off: number, dest: Uint8Array): boolean;
  protected abstract hasCluster(c: number): boolean;
  /** Apply a write: parts into clusters already written, and whole new clusters. */
  protected abstract apply(inPlace: InPlace[], fresh: Fresh[]): void;
  abstract flush(): void;
  protected abstract closeOverlay(): void;

  read(offset: number, dest: Uint8Array): void {
    try {
      let pos = 0;
      while (pos < dest.length) {
        const at = offset + pos;
        const c = Math.floor(at / CLUSTER);
        const off = at - c * CLUSTER;
        const n = Math.min(CLUSTER - off, dest.length - pos);
        const part = dest.subarray(pos, pos + n);
        if (!this.readCluster(c, off, part)) this.base.read(part, at);
        pos += n;
      }
    } catch (e) {
      if (e instanceof BlockIoError) throw e;
      throw new BlockIoError(`read: ${(e as Error).message}`);
    }
  }

  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new BlockIoError('read-only disk');
    const inPlace: InPlace[] = [];
    const fresh: Fresh[] = [];
    try {
      let pos = 0;
      while (pos < src.length) {
        const at = offset + pos;
        const c = Math.floor(at / CLUSTER);
        const off = at - c * CLUSTER;
        const n = Math.min(CLUSTER - off, src.length - pos);
        const part = src.subarray(pos, pos + n);
        if (this.hasCluster(c)) inPlace.push({ c, off, part });
        else {
          // First write to this cluster: start from the base's bytes.
          const data = new Uint8Array(CLUSTER);
          this.base.read(data.subarray(0, Math.min(CLUSTER, this.size - c * CLUSTER)), c * CLUSTER);
          data.set(part, off);
          fresh.push({ c, data });
        }
        pos += n;
      }
    } catch (e) {
      throw new BlockIoError(`write: ${(e as Error).message}`);
    }
    try {
      this.apply(inPlace, fresh);
    } finally {
      // Even a write that failed part-way may have changed these.
      for (const w of inPlace) this.changed.add(w.c);
      for (const f of fresh) this.changed.add(f.c);
    }
  }

  get clusters(): WrittenClusters {
    return this;
  }

  takeChanged(): number[] {
    // A new cluster whose write failed before the table named it was never written.
    const list = [...this.changed].filter((c) => this.hasCluster(c));
    this.changed.clear();
    return list;
  }

  copyCluster(c: number, dest: Uint8Array): void {
    try {
      if (dest.length !== CLUSTER || !this.readCluster(c, 0, dest))
        throw new Error(`cluster ${c} was not written`);
    } catch (e) {
      if (e instanceof BlockIoError) throw e;
      throw new BlockIoError(`read: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.closeOverlay();
    this.base.close();
  }
}

/** Snapshot state of the clusters the guest wrote. */
function saveClusters(clusters: Map<number, Uint8Array>, clusterSize: number): State {
  return {
    clusterSize,
    index: [...clusters.keys()],
    data: [...clusters.values()].map((d) => d.slice()),
  };
}

function loadClusters(clusters: Map<number, Uint8Array>, clusterSize: number, s: State): void {
  const { index, data } = s;
  const bad = () => new SnapshotError('disk state in the snapshot is malformed');
  if (s.clusterSize !== clusterSize || !Array.isArray(index) || !Array.isArray(data)) throw bad();
  if (index.length !== data.length) throw bad();
  const loaded = new Map<number, Uint8Array>();
  index.forEach((c, i) => {
    const d = data[i];
    if (typeof c !== 'number' || !(d instanceof Uint8Array) || d.length !== clusterSize)
      throw bad();
    loaded.set(c, d.slice());
  });
  clusters.clear();
  for (const [c, d] of loaded) clusters.set(c, d);
}

/** Copy-on-write in memory over a base image (or image bytes); the image is never written. */
export class MemoryCowStore extends CowStore {
  private readonly written = new Map<number, Uint8Array>();

  constructor(image: BaseImage | Uint8Array, readOnly: boolean) {
    super(image instanceof Uint8Array ? bytesBase(image) : image, readOnly);
  }

  protected readCluster(c: number, off: number, dest: Uint8Array): boolean {
    const data = this.written.get(c);
    if (!data) return false;
    dest.set(data.subarray(off, off + dest.length));
    return true;
  }

  protected hasCluster(c: number): boolean {
    return this.written.has(c);
  }

  protected apply(inPlace: InPlace[], fresh: Fresh[]): void {
    for (const w of inPlace) this.written.get(w.c)!.set(w.part, w.off);
    for (const f of fresh) this.written.set(f.c, f.data);
  }

  /** The written clusters (copied: the store goes on changing). */
  saveState(): State {
    return saveClusters(this.written, CLUSTER);
  }

  loadState(s: State): void {
    loadClusters(this.written, CLUSTER, s);
    for (const c of this.written.keys()) this.changed.add(c);
  }

  /** Bytes held in memory. */
  get bytesUsed(): number {
    return this.written.size * CLUSTER;
  }

  flush(): void {}

  protected closeOverlay(): void {
    this.written.clear();
  }
}
