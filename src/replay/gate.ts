/**
 * The gate (DESIGN rule 1): the one way host inputs enter the guest —
 * console bytes, network frames and link changes, entropy, idle-time jumps,
 * host disk errors.
 * The RTC's starting value enters once, through the machine configuration
 * held in the recording's header.
 *
 * Live and record mode: host code calls the methods below; each input takes
 * effect at the machine's current instruction boundary and, when recording,
 * is appended to the log first. Replay mode (ReplayGate) never reads the
 * host: the replayer applies logged inputs, and entropy comes from the log.
 * Auditing determinism means reading this file and replay-gate.ts.
 */
import type { VirtMachine } from '../machine/virt.js';
import type { BlockIoError, BlockStore, EntropySource } from '../devices/virtio/backends.js';
import { EMPTY, EventType, type RecordedEvent } from './events.js';
import {
  DISK_OP_NAMES,
  encodeDiskError,
  gateBlockStore,
  type DiskCallGate,
  type DiskOp,
} from './disk-gate.js';

export interface EventSink {
  append(ev: RecordedEvent): void;
}

export class Gate implements EntropySource, DiskCallGate {
  private vm: VirtMachine | undefined;
  /** Disk store calls made at icount callAt so far (numbers them within an instruction). */
  private callAt = -1;
  private calls = 0;
  /** Set when a host disk error ended the recording: what happened. */
  stoppedBy: string | undefined;

  /**
   * @param hostEntropy the host's cryptographic random source
   * @param log where events go when recording (undefined: just run)
   */
  constructor(
    private readonly hostEntropy: (dest: Uint8Array) => void,
    private readonly log?: EventSink,
  ) {}

  /** The machine is built after the gate (its devices take the gate as entropy source). */
  attach(vm: VirtMachine): void {
    this.vm = vm;
  }

  private machine(): VirtMachine {
    if (!this.vm) throw new Error('gate used before a machine was attached');
    return this.vm;
  }

  /** Told of each input as it enters the machine (recorded or not): plugins. */
  onInput: ((ev: RecordedEvent) => void) | undefined;

  private record(type: EventType, arg: number, value: number, data: Uint8Array): void {
    const ev = { type, icount: this.machine().cpu.icount, arg, value, data };
    this.onInput?.(ev);
    this.log?.append(ev);
  }

  console(bytes: Uint8Array): void {
    if (!bytes.length) return;
    this.record(EventType.Console, 0, 0, bytes.slice());
    this.machine().queueConsoleInput(bytes);
  }

  hvc(bytes: Uint8Array): void {
    if (!bytes.length) return;
    this.record(EventType.Hvc, 0, 0, bytes.slice());
    this.machine().queueHvcInput(bytes);
  }

  netFrame(nic: number, frame: Uint8Array): void {
    this.record(EventType.NetFrame, nic, 0, frame);
    this.machine().queueNetFrame(nic, frame);
  }

  netLink(nic: number, up: boolean): void {
    this.record(EventType.NetLink, nic, up ? 1 : 0, EMPTY);
    this.machine().setNetLink(nic, up);
  }

  /** The guest idled; move virtual time forward to `ticks` (DESIGN rule 5). */
  idleJump(ticks: number): void {
    const vm = this.machine();
    const target = Math.floor(ticks);
    if (target <= vm.now()) return;
    this.record(EventType.IdleJump, 0, target, EMPTY);
    vm.advanceTimeTo(target);
  }

  /** Disk `index`'s store, with its host errors passing the gate. */
  disk(store: BlockStore, index: number): BlockStore {
    return gateBlockStore(store, index, this);
  }

  diskCall(): { call: number } {
    const icount = this.machine().cpu.icount;
    if (icount !== this.callAt) {
      this.callAt = icount;
      this.calls = 0;
    }
    return { call: this.calls++ };
  }

  /**
   * A host disk call failed: the guest gets an I/O error, and the recording
   * says which call failed, so its replay fails the same one. A write that
   * may have changed part of the disk can't be reproduced: the recording
   * stops after this instruction (the replay goes up to there).
   */
  diskFailed(disk: number, op: DiskOp, call: number, err: BlockIoError): void {
    const vm = this.machine();
    this.record(EventType.DiskError, disk, call, encodeDiskError(op, err.partial, err.message));
    if (err.partial && this.log && !this.stoppedBy) {
      this.stoppedBy = `disk ${disk}: a host ${DISK_OP_NAMES[op]} error (${err.message}) left the disk partly written at icount ${vm.cpu.icount}`;
      vm.exit ??= { kind: 'stopped', status: 1 };
    }
  }

  /** EntropySource: a device needs random bytes now. */
  fill(dest: Uint8Array): void {
    this.hostEntropy(dest);
    this.record(EventType.Entropy, 0, 0, dest.slice());
  }
}
