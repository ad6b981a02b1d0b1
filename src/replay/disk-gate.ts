/**
 * Host disk errors as gate inputs. Disk contents never enter the log (DESIGN
 * rule 4: they are a function of the base image and the guest's writes), but
 * whether a host read, write or flush failed is host state the guest sees:
 * every disk store call passes here, numbered within its instruction, so
 * that a recording logs the calls that failed and its replay fails the same
 * calls (Gate and ReplayGate implement DiskCallGate).
 */
import { BlockIoError, type BlockStore } from '../devices/virtio/backends.js';
import type { RecordedEvent } from './events.js';

export const enum DiskOp {
  Read = 0,
  Write = 1,
  Flush = 2,
}

export const DISK_OP_NAMES = ['read', 'write', 'flush'];

/** The gate's side of a disk store call. */
export interface DiskCallGate {
  /**
   * A store call begins; returns its number within the current instruction
   * and, in a replay, the recorded error to give instead of making the call.
   */
  diskCall(disk: number, op: DiskOp): { call: number; recorded?: BlockIoError };
  /** The host store failed this call. */
  diskFailed(disk: number, op: DiskOp, call: number, err: BlockIoError): void;
}

/** The payload of a DiskError event. */
export function encodeDiskError(op: DiskOp, partial: boolean, message: string): Uint8Array {
  const text = new TextEncoder().encode(message.slice(0, 200));
  const data = new Uint8Array(2 + text.length);
  data[0] = op;
  data[1] = partial ? 1 : 0;
  data.set(text, 2);
  return data;
}

export function decodeDiskError(ev: RecordedEvent): {
  op: DiskOp;
  partial: boolean;
  message: string;
} {
  const d = ev.data;
  return {
    op: (d[0] ?? 0) as DiskOp,
    partial: ((d[1] ?? 0) & 1) === 1,
    message: new TextDecoder().decode(d.subarray(2)),
  };
}

/** `store` with every call passing `gate`; snapshot and checkpoint state pass straight through. */
export function gateBlockStore(store: BlockStore, disk: number, gate: DiskCallGate): BlockStore {
  const call = (op: DiskOp, f: () => void): void => {
    const { call: n, recorded } = gate.diskCall(disk, op);
    if (recorded) throw recorded;
    try {
      f();
    } catch (e) {
      if (e instanceof BlockIoError) gate.diskFailed(disk, op, n, e);
      throw e;
    }
  };
  const gated: BlockStore = {
    size: store.size,
    readOnly: store.readOnly,
    read: (offset, dest) => call(DiskOp.Read, () => store.read(offset, dest)),
    write: (offset, src) => call(DiskOp.Write, () => store.write(offset, src)),
    flush: () => call(DiskOp.Flush, () => store.flush()),
    close: () => store.close(),
    clusters: store.clusters,
  };
  if (store.saveState && store.loadState) {
    gated.saveState = () => store.saveState!();
    gated.loadState = (s) => store.loadState!(s);
  }
  return gated;
}
