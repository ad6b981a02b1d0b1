/**
 * virtio-blk (virtio 1.2 §5.2) on a BlockStore: read, write, flush and
 * get-id. Requests are carried out when the driver notifies and returned
 * after a fixed virtual delay, so timing never depends on the host disk.
 * Data moves directly between the store and guest RAM, without copies.
 */
import { BlockIoError, type BlockStore, type WrittenClusters } from './backends.js';
import type { VirtioDeviceModel, VirtioHost } from './device-model.js';
import { CompletionQueue } from './completions.js';
import type { DescriptorChain } from './virtqueue.js';
import {
  SnapshotError,
  loadFields,
  sub,
  type SaveOptions,
  type State,
} from '../../snapshot/state.js';

const F_SIZE_MAX = 1;
const F_SEG_MAX = 2;
const F_RO = 5;
const F_BLK_SIZE = 6;
const F_FLUSH = 9;

const T_IN = 0;
const T_OUT = 1;
const T_FLUSH = 4;
const T_GET_ID = 8;

/** What a request asked for, in words (§5.2.6 request types). */
export const BLK_REQUEST_NAMES: Record<number, string> = {
  [T_IN]: 'read',
  [T_OUT]: 'write',
  [T_FLUSH]: 'flush',
  [T_GET_ID]: 'get id',
};

/** A request the device carried out. */
export interface BlkRequest {
  /** Its type (BLK_REQUEST_NAMES). */
  type: number;
  /** Its first sector. */
  sector: number;
  /** Data bytes it asked to move. */
  bytes: number;
  /** The status the device answered (0: OK, 1: I/O error, 2: unsupported). */
  status: number;
}

/** Told of each request the device carried out, as it completes, inside the guest's notify. */
export type BlkRequestObserver = (request: BlkRequest) => void;

export const BLK_S_OK = 0;
export const BLK_S_IOERR = 1;
export const BLK_S_UNSUPP = 2;

const QUEUE_SIZE = 256;
const SEG_MAX = QUEUE_SIZE - 2;
/** Largest segment we advertise; larger requests are refused, which bounds host work per request. */
const SIZE_MAX = 1 << 20;
const REQUEST_MAX = SEG_MAX * SIZE_MAX;
/** Virtual time from notify to completion: 20 µs in 10 MHz ticks. */
export const BLK_COMPLETION_TICKS = 200;

export interface BlkStats {
  reads: number;
  writes: number;
  flushes: number;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
}

export class VirtioBlk implements VirtioDeviceModel {
  readonly deviceId = 2;
  readonly name = 'virtio-blk';
  readonly features: number[];
  readonly queueSizes = [QUEUE_SIZE];
  readonly config = new Uint8Array(60);
  readonly stats: BlkStats = {
    reads: 0,
    writes: 0,
    flushes: 0,
    errors: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };
  private host!: VirtioHost;
  private readonly done = new CompletionQueue();
  private readonly serial: Uint8Array;

  saveState(opts?: SaveOptions): State {
    // A digest leaves the disk's contents out (see SaveOptions): it must not copy or refuse them.
    if (opts?.digest) return { config: this.config.slice(), done: this.done.saveState() };
    if (opts?.disksApart) {
      if (!this.store.clusters)
        throw new SnapshotError(
          'a disk written in place cannot be checkpointed: use snapshot=on or overlay=FILE',
        );
      return { config: this.config.slice(), done: this.done.saveState(), store: null };
    }
    if (!this.store.saveState)
      throw new SnapshotError(
        'a disk written in place cannot be snapshotted: use snapshot=on or overlay=FILE',
      );
    return {
      config: this.config.slice(),
      done: this.done.saveState(),
      store: this.store.saveState(),
    };
  }

  /** The store's written clusters, where it is copy-on-write (checkpoints read them). */
  get clusters(): WrittenClusters | undefined {
    return this.store.clusters;
  }

  loadState(s: State): void {
    if (!this.store.loadState)
      throw new SnapshotError("this disk cannot take a snapshot's state (written in place)");
    loadFields(this, s, ['config'], 'virtio-blk');
    this.done.loadState(sub(s, 'done', 'virtio-blk'));
    this.store.loadState(sub(s, 'store', 'virtio-blk'));
  }

  constructor(
    private readonly store: BlockStore,
    serial = '',
    private readonly onRequest?: BlkRequestObserver,
  ) {
    this.features = [F_SIZE_MAX, F_SEG_MAX, F_BLK_SIZE, F_FLUSH];
    if (store.readOnly) this.features.push(F_RO);
    const dv = new DataView(this.config.buffer);
    const sectors = Math.floor(store.size / 512);
    dv.setUint32(0, sectors % 0x100000000, true); // capacity (§5.2.4)
    dv.setUint32(4, Math.floor(sectors / 0x100000000), true);
    dv.setUint32(8, SIZE_MAX, true);
    dv.setUint32(12, SEG_MAX, true);
    dv.setUint32(20, 512, true); // blk_size
    this.serial = new TextEncoder().encode(serial).subarray(0, 20);
  }

  attach(host: VirtioHost): void {
    this.host = host;
  }

  reset(): void {
    this.done.clear();
  }

  nextDeadline(): number {
    return this.done.nextDeadline();
  }

  update(now: number): void {
    this.done.complete(this.host, now);
  }

  notify(q: number): void {
    const queue = this.host.queue(q);
    const due = this.host.now() + BLK_COMPLETION_TICKS;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const written = this.execute(chain);
      this.done.add(due, q, chain.head, written);
    }
  }

  /** Carry out one request; returns the bytes written into the driver's buffers. */
  private execute(chain: DescriptorChain): number {
    // §5.2.6: a 16-byte header the device reads, the data, and a status byte it writes last.
    if (chain.readableBytes < 16 || chain.writableBytes < 1) {
      this.host.fail('virtio-blk: request without header or status byte');
      return 0;
    }
    const hdr = chain.readAll(16);
    const dv = new DataView(hdr.buffer);
    const type = dv.getUint32(0, true);
    const sector = dv.getUint32(8, true) + dv.getUint32(12, true) * 0x100000000;
    const statusAt = chain.writableBytes - 1;
    let status = BLK_S_OK;
    let written = 1;
    try {
      if (chain.badBuffer) status = BLK_S_IOERR;
      else if (type === T_IN) {
        const len = chain.writableBytes - 1;
        status = this.checkRange(sector, len);
        if (status === BLK_S_OK) {
          const views = chain.writableViews(0, len);
          let off = sector * 512;
          try {
            for (const v of views) {
              this.store.read(off, v.view);
              off += v.view.length;
            }
          } catch (e) {
            // A failed read leaves zeros, not whatever part the host got: the same in a replay,
            // which fails the same call without reading.
            for (const v of views) v.view.fill(0);
            throw e;
          } finally {
            chain.noteWritten(views);
          }
          written += len;
          this.stats.reads++;
          this.stats.bytesRead += len;
        }
      } else if (type === T_OUT) {
        const len = chain.readableBytes - 16;
        status = this.store.readOnly ? BLK_S_IOERR : this.checkRange(sector, len);
        if (status === BLK_S_OK) {
          let off = sector * 512;
          let skip = 16;
          for (let i = 0; i < chain.readAddr.length; i++) {
            const l = chain.readLen[i];
            if (skip >= l) {
              skip -= l;
              continue;
            }
            this.store.write(off, this.host.ram.view(chain.readAddr[i] + skip, l - skip));
            off += l - skip;
            skip = 0;
          }
          this.stats.writes++;
          this.stats.bytesWritten += len;
        }
      } else if (type === T_FLUSH) {
        this.store.flush();
        this.stats.flushes++;
      } else if (type === T_GET_ID) {
        const n = Math.min(20, chain.writableBytes - 1);
        const id = new Uint8Array(n);
        id.set(this.serial.subarray(0, n));
        written += chain.writeAt(0, id);
      } else status = BLK_S_UNSUPP;
    } catch (e) {
      if (!(e instanceof BlockIoError)) throw e;
      status = BLK_S_IOERR;
    }
    if (status !== BLK_S_OK) this.stats.errors++;
    chain.writeAt(statusAt, Uint8Array.of(status));
    if (this.onRequest) {
      const bytes =
        type === T_IN ? chain.writableBytes - 1 : type === T_OUT ? chain.readableBytes - 16 : 0;
      this.onRequest({ type, sector, bytes, status });
    }
    return written;
  }

  /** Data length and sector range checks (§5.2.6.1): whole sectors, inside the disk, not huge. */
  private checkRange(sector: number, len: number): number {
    if (len % 512 !== 0 || len > REQUEST_MAX) return BLK_S_IOERR;
    if (sector * 512 + len > this.store.size) return BLK_S_IOERR;
    return BLK_S_OK;
  }
}
