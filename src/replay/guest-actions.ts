/**
 * What the guest did to the outside world during a replay — the frames it
 * sent and the requests it made of its disks — as two lists of (icount,
 * words). The recording does not hold these (they are the guest's doing,
 * not inputs), so a replay collects them as it passes: the page's timeline
 * (web/replay-worker.ts) and the tests that compare it with Node use this.
 *
 * A virtio-blk request reaches the store as one call per data descriptor,
 * all within the instruction that notified the device; contiguous calls of
 * one kind at one icount are one request here.
 */
import { describeFrame } from '../analysis/frame-summary.js';
import { DISK_OP_NAMES, DiskOp } from './disk-gate.js';

/** A growing list of icounts (a Float64Array that doubles), with words for each if labelled. */
export class IcountList {
  a = new Float64Array(64);
  n = 0;
  readonly labels: string[] | undefined;
  constructor(
    readonly name: string,
    labelled: boolean,
  ) {
    if (labelled) this.labels = [];
  }

  push(icount: number, label?: string): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = icount;
    this.labels?.push(label ?? '');
  }

  /** The icounts (a copy) and labels from index `from` on. */
  slice(from = 0): { name: string; icounts: Float64Array; labels?: string[] } {
    const t: { name: string; icounts: Float64Array; labels?: string[] } = {
      name: this.name,
      icounts: this.a.slice(from, this.n),
    };
    if (this.labels) t.labels = this.labels.slice(from);
    return t;
  }
}

export const NET_OUT_TRACK = 'net frames out';
export const DISK_TRACK = 'disk requests';

export class GuestActionLog {
  readonly netOut = new IcountList(NET_OUT_TRACK, true);
  readonly disk = new IcountList(DISK_TRACK, true);
  /** The request the last disk call belongs to, while more calls may extend it. */
  private open:
    | { disk: number; op: DiskOp; start: number; end: number; icount: number; index: number }
    | undefined;
  /** How far take() has handed the lists out. */
  private takenNet = 0;
  private takenDisk = 0;

  netSent(nic: number, frame: Uint8Array, icount: number): void {
    this.netOut.push(icount, `NIC ${nic}: ${describeFrame(frame)}`);
  }

  diskCall(disk: number, op: DiskOp, offset: number, bytes: number, icount: number): void {
    const o = this.open;
    if (
      o &&
      op !== DiskOp.Flush &&
      o.disk === disk &&
      o.op === op &&
      o.icount === icount &&
      o.end === offset &&
      o.index >= this.takenDisk
    ) {
      o.end += bytes;
      this.disk.labels![o.index] = diskLabel(disk, op, o.start, o.end - o.start);
      return;
    }
    this.open = { disk, op, start: offset, end: offset + bytes, icount, index: this.disk.n };
    this.disk.push(icount, diskLabel(disk, op, offset, bytes));
  }

  /** The events added since the last take (the request still open included: it is whole by then). */
  take(): { name: string; icounts: Float64Array; labels?: string[] }[] {
    const out = [this.netOut.slice(this.takenNet), this.disk.slice(this.takenDisk)];
    this.takenNet = this.netOut.n;
    this.takenDisk = this.disk.n;
    return out.filter((t) => t.icounts.length);
  }
}

function diskLabel(disk: number, op: DiskOp, offset: number, bytes: number): string {
  if (op === DiskOp.Flush) return `disk ${disk}: flush`;
  const sector = offset / 512;
  const size = bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
  return `disk ${disk}: ${DISK_OP_NAMES[op]} ${size} at sector ${sector}`;
}
