/**
 * The interfaces between the virtio devices (core, no Node APIs) and their
 * host backends (src/host/). Devices see only these.
 */
import type { State } from '../../snapshot/state.js';

/** A host I/O failure a backend reports; the device turns it into VIRTIO_BLK_S_IOERR. */
export class BlockIoError extends Error {
  /**
   * @param partial the failed call may have changed part of what the guest
   *   reads back (a write in place that stopped midway). Otherwise a failed
   *   call changed nothing the guest can see, so a replay reproduces it by
   *   failing the same call.
   */
  constructor(
    message: string,
    readonly partial = false,
  ) {
    super(message);
  }
}

/**
 * A disk as virtio-blk sees it: synchronous byte-addressed I/O on an image of
 * fixed size. Contents are a function of the base image and the guest's own
 * writes only (DESIGN rule 4), so disk reads never go through the gate.
 */
export interface BlockStore {
  /** Capacity in bytes, a multiple of 512. */
  readonly size: number;
  /** Writes are refused (the device answers VIRTIO_BLK_S_IOERR and advertises VIRTIO_BLK_F_RO). */
  readonly readOnly: boolean;
  /**
   * Fill `dest` from byte `offset`. offset + dest.length <= size. Throws
   * BlockIoError; dest may then hold anything.
   */
  read(offset: number, dest: Uint8Array): void;
  /**
   * Write `src` at byte `offset`. offset + src.length <= size. Throws
   * BlockIoError, which says whether the disk may have changed (`partial`).
   */
  write(offset: number, src: Uint8Array): void;
  /** Make earlier writes durable. Throws BlockIoError (the contents stay as they were). */
  flush(): void;
  /** Release host resources; further calls are errors. */
  close(): void;
  /**
   * The guest's writes so far, for snapshots (absent: the store cannot be
   * snapshotted, e.g. an image written in place).
   */
  saveState?(): State;
  loadState?(s: State): void;
  /** A copy-on-write store's written clusters, for checkpoints that hold them incrementally. */
  readonly clusters?: WrittenClusters;
}

/**
 * The clusters a copy-on-write store holds (the guest's writes), as a
 * checkpoint reads them: only those changed since the previous checkpoint.
 */
export interface WrittenClusters {
  readonly clusterSize: number;
  /** Clusters written (or loaded by a restore) since the previous call, each once. */
  takeChanged(): number[];
  /** A written cluster's bytes into `dest` (clusterSize long). Throws BlockIoError. */
  copyCluster(c: number, dest: Uint8Array): void;
}

/**
 * The guest-to-host half of a network link. Frames from the host to the
 * guest do not come this way: they enter through the gate
 * (VirtMachine.queueNetFrame), so that record and replay see them.
 */
export interface FrameSink {
  /** An Ethernet frame (no FCS) the guest transmitted. Must not block; may drop. */
  send(frame: Uint8Array): void;
}

/**
 * Where virtio-rng's bytes come from. In a recording this is the gate: it
 * reads the host's cryptographic source and logs, or replays from the log.
 */
export interface EntropySource {
  fill(dest: Uint8Array): void;
}

/** The guest-to-host half of a byte-stream console (virtio-console output). */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}
