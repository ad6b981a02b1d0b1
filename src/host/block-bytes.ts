/**
 * A disk whose image is already in memory (a recording's embedded image),
 * written copy-on-write so the image stays as it was and snapshots hold only
 * what the guest wrote.
 */
import { BlockIoError, type BlockStore } from '../devices/virtio/backends.js';
import type { State } from '../snapshot/state.js';
import { loadClusters, saveClusters } from './cluster-state.js';

const CLUSTER = 64 << 10;

export class BytesCowStore implements BlockStore {
  readonly size: number;
  private readonly clusters = new Map<number, Uint8Array>();

  constructor(
    private readonly image: Uint8Array,
    readonly readOnly: boolean,
  ) {
    this.size = Math.floor(image.length / 512) * 512;
  }

  private span(
    offset: number,
    len: number,
    each: (c: number, off: number, pos: number, n: number) => void,
  ): void {
    let pos = 0;
    while (pos < len) {
      const at = offset + pos;
      const c = Math.floor(at / CLUSTER);
      const off = at - c * CLUSTER;
      const n = Math.min(CLUSTER - off, len - pos);
      each(c, off, pos, n);
      pos += n;
    }
  }

  read(offset: number, dest: Uint8Array): void {
    this.span(offset, dest.length, (c, off, pos, n) => {
      const data = this.clusters.get(c);
      if (data) dest.set(data.subarray(off, off + n), pos);
      else dest.set(this.image.subarray(c * CLUSTER + off, c * CLUSTER + off + n), pos);
    });
  }

  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new BlockIoError('read-only disk');
    this.span(offset, src.length, (c, off, pos, n) => {
      let data = this.clusters.get(c);
      if (!data) {
        data = new Uint8Array(CLUSTER);
        data.set(this.image.subarray(c * CLUSTER, Math.min(this.image.length, (c + 1) * CLUSTER)));
        this.clusters.set(c, data);
      }
      data.set(src.subarray(pos, pos + n), off);
    });
  }

  flush(): void {}

  close(): void {
    this.clusters.clear();
  }

  /** The written clusters (copied: the store goes on changing). */
  saveState(): State {
    return saveClusters(this.clusters, CLUSTER);
  }

  loadState(s: State): void {
    loadClusters(this.clusters, CLUSTER, s);
  }
}
