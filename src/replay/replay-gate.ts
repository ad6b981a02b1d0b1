/**
 * The gate in replay mode: the host inputs a device asks for while the guest
 * runs — entropy, and the failures of disk calls the recording saw — come
 * from the log, in order, at the icount they were recorded at. A request the
 * log does not match is a divergence: it is noted (with zeros given to the
 * guest) and the replayer stops, rather than throwing out of the middle of an
 * instruction.
 */
import { BlockIoError, type BlockStore, type EntropySource } from '../devices/virtio/backends.js';
import type { VirtMachine } from '../machine/virt.js';
import { EventType, EVENT_NAMES, type RecordedEvent } from './events.js';
import type { EventCursor, EventLog } from './event-log.js';
import {
  DISK_OP_NAMES,
  decodeDiskError,
  gateBlockStore,
  type DiskCallGate,
  type DiskOp,
} from './disk-gate.js';

export class ReplayGate implements EntropySource, DiskCallGate {
  /** At the next pull event not yet handed out. */
  readonly cursor: EventCursor;
  divergence: string | undefined;
  /** Told of each entropy request served from the recording: plugins. */
  onInput: ((ev: RecordedEvent) => void) | undefined;
  /** A host failure the replay can't get past (an image unreadable here): why it stopped. */
  hostError: string | undefined;
  private vm: VirtMachine | undefined;
  /** Disk store calls made at icount callAt so far (numbered as the recording numbered them). */
  private callAt = -1;
  private calls = 0;

  constructor(events: EventLog) {
    this.cursor = events.cursor();
    this.cursor.toPull();
  }

  attach(vm: VirtMachine): void {
    this.vm = vm;
  }

  /** The replay moved the cursor (seek, resume): disk calls are counted afresh. */
  positionChanged(): void {
    this.callAt = -1;
  }

  fill(dest: Uint8Array): void {
    const icount = this.vm!.cpu.icount;
    const ev = this.cursor.peek();
    if (
      !ev ||
      ev.type !== EventType.Entropy ||
      ev.icount !== icount ||
      ev.data.length !== dest.length
    ) {
      dest.fill(0);
      this.divergence ??= ev
        ? `the guest asked for ${dest.length} bytes of entropy at icount ${icount}; the recording has ${EVENT_NAMES[ev.type]} of ${ev.data.length} bytes at icount ${ev.icount}`
        : `the guest asked for entropy at icount ${icount}, beyond the recorded requests`;
      return;
    }
    dest.set(ev.data);
    this.onInput?.(ev);
    this.cursor.advance();
    this.cursor.toPull();
  }

  /** Disk `index`'s store: the calls the recording saw fail fail again, without touching the host. */
  disk(store: BlockStore, index: number): BlockStore {
    return gateBlockStore(store, index, this);
  }

  diskCall(disk: number, op: DiskOp): { call: number; recorded?: BlockIoError } {
    const icount = this.vm!.cpu.icount;
    if (icount !== this.callAt) {
      this.callAt = icount;
      this.calls = 0;
    }
    const call = this.calls++;
    const ev = this.cursor.peek();
    if (
      !ev ||
      ev.type !== EventType.DiskError ||
      ev.icount !== icount ||
      ev.arg !== disk ||
      ev.value !== call
    )
      return { call };
    this.cursor.advance();
    this.cursor.toPull();
    const rec = decodeDiskError(ev);
    if (rec.op !== op)
      this.divergence ??= `disk ${disk}'s call ${call} at icount ${icount} is a ${DISK_OP_NAMES[op]}; the recording failed a ${DISK_OP_NAMES[rec.op]} there`;
    return { call, recorded: new BlockIoError(rec.message, rec.partial) };
  }

  diskFailed(disk: number, op: DiskOp, _call: number, err: BlockIoError): void {
    const icount = this.vm!.cpu.icount;
    this.hostError ??= `disk ${disk}: a ${DISK_OP_NAMES[op]} failed on this host at icount ${icount} (${err.message}), where the recording had none`;
  }
}
