/**
 * The virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): registers,
 * feature negotiation, device status and reset, queue set-up, notifications
 * and the interrupt line. One transport per `virt` slot; a slot with no
 * device answers DeviceID 0, as QEMU's empty slots do.
 */
import type { IrqLine, MmioDevice, TimeSource } from '../device.js';
import { DmaError, type GuestRam } from './guest-ram.js';
import { SplitVirtqueue, VirtqueueError } from './virtqueue.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  type VirtioDeviceModel,
  type VirtioHost,
} from './device-model.js';
import {
  SnapshotError,
  loadFields,
  saveFields,
  sub,
  type SaveOptions,
  type State,
} from '../../snapshot/state.js';

const MAGIC = 0x74726976; // "virt"
const VENDOR_ID = 0x554d4551; // "QEMU", as QEMU's transports say

// Device status bits (§2.1).
export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_NEEDS_RESET = 0x40;
export const STATUS_FAILED = 0x80;

const INT_USED_BUFFER = 1;
const INT_CONFIG_CHANGE = 2;

/** Register offsets (§4.2.2). */
export const enum Reg {
  MagicValue = 0x000,
  Version = 0x004,
  DeviceId = 0x008,
  VendorId = 0x00c,
  DeviceFeatures = 0x010,
  DeviceFeaturesSel = 0x014,
  DriverFeatures = 0x020,
  DriverFeaturesSel = 0x024,
  QueueSel = 0x030,
  QueueNumMax = 0x034,
  QueueNum = 0x038,
  QueueReady = 0x044,
  QueueNotify = 0x050,
  InterruptStatus = 0x060,
  InterruptAck = 0x064,
  Status = 0x070,
  QueueDescLow = 0x080,
  QueueDescHigh = 0x084,
  QueueDriverLow = 0x090,
  QueueDriverHigh = 0x094,
  QueueDeviceLow = 0x0a0,
  QueueDeviceHigh = 0x0a4,
  ShmSel = 0x0ac,
  ShmLenLow = 0x0b0,
  ShmLenHigh = 0x0b4,
  ShmBaseLow = 0x0b8,
  ShmBaseHigh = 0x0bc,
  ConfigGeneration = 0x0fc,
  Config = 0x100,
}

const MMIO_FIELDS = [
  'accepted',
  'deviceFeaturesSel',
  'driverFeaturesSel',
  'queueSel',
  'status',
  'interruptStatus',
  'configGeneration',
  'failure',
];

export class VirtioMmio implements MmioDevice, VirtioHost {
  readonly name: string;
  private readonly queues: SplitVirtqueue[];
  private readonly offered: Uint32Array = new Uint32Array(2);
  private readonly accepted: Uint32Array = new Uint32Array(2);
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;
  private status = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  /** Why the device last set DEVICE_NEEDS_RESET (for diagnostics). */
  failure: string | undefined;
  /** Told when the device sets DEVICE_NEEDS_RESET (the host shows the user; not machine state). */
  onFail: ((name: string, reason: string) => void) | undefined;

  saveState(opts?: SaveOptions): State {
    return {
      ...saveFields(this, MMIO_FIELDS),
      device: this.model?.name ?? null,
      queues: this.queues.map((q) => q.saveState()),
      model: this.model ? this.model.saveState(opts) : null,
    };
  }

  loadState(s: State): void {
    const device = this.model?.name ?? null;
    if (s.device !== device)
      throw new SnapshotError(
        `virtio slot ${this.slot}: the snapshot has ${String(s.device ?? 'no device')}, this machine ${device ?? 'none'}`,
      );
    loadFields(this, s, MMIO_FIELDS, this.name);
    this.failure = (this.failure as string | null) ?? undefined;
    const qs = s.queues;
    if (!Array.isArray(qs) || qs.length !== this.queues.length)
      throw new SnapshotError(`${this.name}: the snapshot's queues do not match`);
    this.queues.forEach((q, i) => q.loadState(qs[i] as State));
    if (this.model) this.model.loadState(sub(s, 'model', this.name));
  }

  constructor(
    readonly slot: number,
    readonly ram: GuestRam,
    private readonly irq: IrqLine,
    private readonly time: TimeSource,
    readonly model: VirtioDeviceModel | undefined,
  ) {
    this.name = `virtio-mmio@${slot}${model ? ` (${model.name})` : ''}`;
    this.queues = (model?.queueSizes ?? []).map((n, i) => new SplitVirtqueue(i, n, ram));
    if (model) {
      const bits = [
        VIRTIO_F_VERSION_1,
        VIRTIO_F_INDIRECT_DESC,
        VIRTIO_F_EVENT_IDX,
        ...model.features,
      ];
      for (const b of bits) this.offered[b >> 5] |= 1 << (b & 31);
      model.attach(this);
      model.reset();
    }
  }

  // --- VirtioHost

  queue(q: number): SplitVirtqueue {
    return this.queues[q];
  }

  now(): number {
    return this.time.now();
  }

  live(): boolean {
    return (this.status & (STATUS_DRIVER_OK | STATUS_NEEDS_RESET)) === STATUS_DRIVER_OK;
  }

  negotiated(bit: number): boolean {
    return ((this.accepted[bit >> 5] >>> (bit & 31)) & 1) === 1;
  }

  returned(q: number): void {
    if (this.queues[q].shouldSignal()) this.raise(INT_USED_BUFFER);
  }

  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & STATUS_DRIVER_OK) this.raise(INT_CONFIG_CHANGE);
  }

  fail(reason: string): void {
    if (this.status & STATUS_NEEDS_RESET) return;
    this.failure = reason;
    this.status |= STATUS_NEEDS_RESET;
    this.onFail?.(this.name, reason);
    // §2.1.2: with DRIVER_OK set, tell the driver by a configuration change notification.
    if (this.status & STATUS_DRIVER_OK) this.raise(INT_CONFIG_CHANGE);
  }

  /** Device status register value (for tests and inspection). */
  get deviceStatus(): number {
    return this.status;
  }

  private raise(bits: number): void {
    this.interruptStatus |= bits;
    this.irq.set(true);
  }

  /**
   * Run a device action — a guest notify, a completion falling due, or host
   * input entering the device (frames, console bytes, link changes): a
   * hostile ring makes the device need a reset, never a host crash. Every
   * entry into a device model goes through here, so a recording and its
   * replay, which enter at the same icounts, fail the device alike.
   */
  guard(action: () => void): void {
    try {
      action();
    } catch (e) {
      if (e instanceof VirtqueueError || e instanceof DmaError) this.fail(e.message);
      else throw e;
    }
  }

  // --- time

  nextDeadline(): number {
    return this.model && this.live() ? this.model.nextDeadline() : Infinity;
  }

  update(now: number): void {
    const m = this.model;
    if (m && this.live()) this.guard(() => m.update(now));
  }

  // --- registers

  private reset(): void {
    this.status = 0;
    this.interruptStatus = 0;
    this.accepted.fill(0);
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = 0;
    this.failure = undefined;
    for (const q of this.queues) q.reset();
    this.irq.set(false);
    this.model?.reset();
  }

  read(offset: number, width: 1 | 2 | 4): number {
    const m = this.model;
    if (offset >= Reg.Config) {
      if (!m) return 0;
      const cfg = m.config;
      const o = offset - Reg.Config;
      let v = 0;
      for (let i = width - 1; i >= 0; i--) v = v * 256 + (o + i < cfg.length ? cfg[o + i] : 0);
      return v >>> 0;
    }
    if (width !== 4 || offset & 3) return 0; // §4.2.2.2: registers are 32-bit
    const q = this.queues[this.queueSel];
    switch (offset) {
      case Reg.MagicValue:
        return MAGIC;
      case Reg.Version:
        return 2;
      case Reg.DeviceId:
        return m ? m.deviceId : 0;
      case Reg.VendorId:
        return VENDOR_ID;
      case Reg.DeviceFeatures:
        return this.deviceFeaturesSel < 2 ? this.offered[this.deviceFeaturesSel] >>> 0 : 0;
      case Reg.QueueNumMax:
        return q ? q.maxSize : 0;
      case Reg.QueueReady:
        return q && q.ready ? 1 : 0;
      case Reg.InterruptStatus:
        return this.interruptStatus;
      case Reg.Status:
        return this.status;
      case Reg.ShmLenLow:
      case Reg.ShmLenHigh:
        return 0xffffffff; // no shared memory regions (§4.2.2)
      case Reg.ConfigGeneration:
        return this.configGeneration;
      default:
        return 0;
    }
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    const m = this.model;
    if (!m) return;
    if (offset >= Reg.Config) {
      const o = offset - Reg.Config;
      if (o + width > m.config.length) return;
      for (let i = 0; i < width; i++) m.config[o + i] = (value >>> (8 * i)) & 0xff;
      if (m.configWritten) this.guard(() => m.configWritten!(o, width));
      return;
    }
    if (width !== 4 || offset & 3) return;
    const q = this.queues[this.queueSel];
    // Queue layout may only change while the queue is not ready (§4.2.2.3).
    const queueEditable = q !== undefined && !q.ready;
    switch (offset) {
      case Reg.DeviceFeaturesSel:
        this.deviceFeaturesSel = value >>> 0;
        break;
      case Reg.DriverFeaturesSel:
        this.driverFeaturesSel = value >>> 0;
        break;
      case Reg.DriverFeatures:
        if (this.driverFeaturesSel < 2 && !(this.status & STATUS_FEATURES_OK))
          this.accepted[this.driverFeaturesSel] = value;
        break;
      case Reg.QueueSel:
        this.queueSel = value >>> 0;
        break;
      case Reg.QueueNum:
        if (queueEditable) q.num = value >>> 0;
        break;
      case Reg.QueueDescLow:
        if (queueEditable) q.descAddr = setLow(q.descAddr, value);
        break;
      case Reg.QueueDescHigh:
        if (queueEditable) q.descAddr = setHigh(q.descAddr, value);
        break;
      case Reg.QueueDriverLow:
        if (queueEditable) q.availAddr = setLow(q.availAddr, value);
        break;
      case Reg.QueueDriverHigh:
        if (queueEditable) q.availAddr = setHigh(q.availAddr, value);
        break;
      case Reg.QueueDeviceLow:
        if (queueEditable) q.usedAddr = setLow(q.usedAddr, value);
        break;
      case Reg.QueueDeviceHigh:
        if (queueEditable) q.usedAddr = setHigh(q.usedAddr, value);
        break;
      case Reg.QueueReady:
        if (!q) break;
        if (value & 1) {
          if (q.ready) break;
          q.eventIdx = this.negotiated(VIRTIO_F_EVENT_IDX);
          q.indirect = this.negotiated(VIRTIO_F_INDIRECT_DESC);
          try {
            q.validate();
            q.ready = true;
          } catch (e) {
            if (e instanceof VirtqueueError) this.fail(e.message);
            else throw e;
          }
        } else q.ready = false;
        break;
      case Reg.QueueNotify:
        this.notify(value >>> 0);
        break;
      case Reg.InterruptAck:
        this.interruptStatus &= ~value;
        if (this.interruptStatus === 0) this.irq.set(false);
        break;
      case Reg.Status:
        this.writeStatus(value & 0xff);
        break;
      default:
        break;
    }
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    // DEVICE_NEEDS_RESET is the device's to set (§2.1.1), with a reason; the driver can't set or clear it.
    let v = (value & ~STATUS_NEEDS_RESET) | (this.status & STATUS_NEEDS_RESET);
    if (v & STATUS_FEATURES_OK && !(this.status & STATUS_FEATURES_OK)) {
      // §2.2.2: accept only features we offered; we have no legacy interface, so VERSION_1 is required.
      const subset =
        (this.accepted[0] & ~this.offered[0]) === 0 && (this.accepted[1] & ~this.offered[1]) === 0;
      if (!subset || !this.negotiated(VIRTIO_F_VERSION_1)) v &= ~STATUS_FEATURES_OK;
    }
    const becameOk = v & STATUS_DRIVER_OK && !(this.status & STATUS_DRIVER_OK);
    this.status = v;
    if (becameOk && this.model) {
      const m = this.model;
      this.guard(() => {
        m.activated?.();
        // Buffers made available before DRIVER_OK are processed now.
        for (let i = 0; i < this.queues.length; i++) if (this.queues[i].ready) m.notify(i);
      });
    }
  }

  private notify(qi: number): void {
    const m = this.model!;
    if (!this.live()) return;
    const q = this.queues[qi];
    if (!q || !q.ready) {
      this.fail(`notify of queue ${qi}, which is ${q ? 'not set up' : 'absent'}`);
      return;
    }
    this.guard(() => m.notify(qi));
  }
}

function setLow(addr: number, lo: number): number {
  return Math.floor(addr / 0x100000000) * 0x100000000 + (lo >>> 0);
}

function setHigh(addr: number, hi: number): number {
  // Addresses at or above 2^53 can't be RAM; keep them out of range rather than inexact.
  const h = hi >>> 0;
  return (h >= 0x200000 ? 0x1fffff : h) * 0x100000000 + (addr % 0x100000000);
}
