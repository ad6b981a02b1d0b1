/**
 * What the guest did to the outside world during a replay — the frames it
 * sent and the requests it made of its disks — as two lists of (icount,
 * words). The recording does not hold these (they are the guest's doing,
 * not inputs), so a replay collects them as it passes: the page's timeline
 * (web/replay-worker.ts), and the tests that compare it with Node, use this.
 * Disk requests are told by the device (blk.ts), one per request, failed
 * ones too.
 */
import { describeFrame } from '../analysis/frame-summary.js';
import { BLK_REQUEST_NAMES, type BlkRequest } from '../devices/virtio/blk.js';

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
  /** How far take() has handed the lists out. */
  private takenNet = 0;
  private takenDisk = 0;

  netSent(nic: number, frame: Uint8Array, icount: number): void {
    this.netOut.push(icount, `NIC ${nic}: ${describeFrame(frame)}`);
  }

  /** A request disk `disk` carried out (blk.ts BlkRequestObserver). */
  diskRequest(disk: number, request: BlkRequest, icount: number): void {
    this.disk.push(icount, describeDiskRequest(disk, request));
  }

  /** The events added since the last take. */
  take(): { name: string; icounts: Float64Array; labels?: string[] }[] {
    const out = [this.netOut.slice(this.takenNet), this.disk.slice(this.takenDisk)];
    this.takenNet = this.netOut.n;
    this.takenDisk = this.disk.n;
    return out.filter((t) => t.icounts.length);
  }
}

const BLK_STATUS = ['', 'I/O error', 'unsupported'];

/** E.g. "disk 0: read 8 KiB at sector 2048", "disk 1: write 512 bytes at sector 0: I/O error". */
export function describeDiskRequest(
  disk: number,
  { type, sector, bytes, status }: BlkRequest,
): string {
  const what = BLK_REQUEST_NAMES[type] ?? `request type ${type}`;
  let s = `disk ${disk}: ${what}`;
  if (type === 0 || type === 1) {
    const size = bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
    s += ` ${size} at sector ${sector}`;
  }
  return status === 0 ? s : `${s}: ${BLK_STATUS[status] ?? `status ${status}`}`;
}
