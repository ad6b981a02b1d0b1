/**
 * Goldfish RTC (Linux rtc-goldfish): wall-clock nanoseconds derived from
 * virtual time: startUnixNs + mtime * 100 (+ whatever the guest set).
 * Reading TIME_LOW latches TIME_HIGH. The alarm fires at a virtual-time
 * deadline the board stops at (nextDeadline).
 */
import type { IrqLine, MmioDevice, TimeSource } from './device.js';
import { loadFields, saveFields, type State } from '../snapshot/state.js';

const NS_PER_TICK = 100n;
const MASK32 = 0xffffffffn;

/** The fields that make up this part's state (snapshots, checkpoints). */
const RTC_FIELDS = [
  'offsetNs',
  'latchedHigh',
  'alarmHigh',
  'alarmNs',
  'irqEnabled',
  'alarmFired',
  'irqPending',
];

export class GoldfishRtc implements MmioDevice {
  readonly name = 'goldfish-rtc';
  private offsetNs = 0n;
  private latchedHigh = 0;
  private alarmHigh = 0;
  private alarmNs = -1n;
  private irqEnabled = false;
  private alarmFired = false;
  private irqPending = false;
  private readonly startNs: bigint;

  constructor(
    private readonly irq: IrqLine,
    private readonly time: TimeSource,
    startUnixNs: number | bigint,
  ) {
    this.startNs = typeof startUnixNs === 'bigint' ? startUnixNs : BigInt(Math.floor(startUnixNs));
  }

  saveState(): State {
    return saveFields(this, RTC_FIELDS);
  }

  loadState(s: State): void {
    loadFields(this, s, RTC_FIELDS, 'rtc');
  }

  private nowNs(): bigint {
    return this.startNs + this.offsetNs + BigInt(this.time.now()) * NS_PER_TICK;
  }

  /** Virtual-time tick at which the armed alarm fires, or +Infinity. */
  nextDeadline(): number {
    if (this.alarmNs < 0n || this.alarmFired) return Infinity;
    const ticks = (this.alarmNs - this.startNs - this.offsetNs + NS_PER_TICK - 1n) / NS_PER_TICK;
    return ticks < 0n ? 0 : Number(ticks);
  }

  update(): void {
    if (this.alarmNs >= 0n && !this.alarmFired && this.nowNs() >= this.alarmNs) {
      this.alarmFired = true;
      if (this.irqEnabled) this.irqPending = true;
    }
    this.irq.set(this.irqPending);
  }

  read(offset: number): number {
    switch (offset) {
      case 0x00: {
        const t = this.nowNs();
        this.latchedHigh = Number((t >> 32n) & MASK32);
        return Number(t & MASK32);
      }
      case 0x04:
        return this.latchedHigh;
      case 0x08:
        return this.alarmNs < 0n ? 0 : Number(this.alarmNs & MASK32);
      case 0x0c:
        return this.alarmNs < 0n ? 0 : Number((this.alarmNs >> 32n) & MASK32);
      case 0x10:
        return this.irqEnabled ? 1 : 0;
      case 0x18:
        return this.alarmNs >= 0n && !this.alarmFired ? 1 : 0;
    }
    return 0;
  }

  write(offset: number, _width: 1 | 2 | 4, value: number): void {
    const v = BigInt(value >>> 0);
    switch (offset) {
      case 0x00: {
        // Setting the time: low word completes a write of (high, low).
        const want = (BigInt(this.latchedHigh) << 32n) | v;
        this.offsetNs += want - this.nowNs();
        break;
      }
      case 0x04:
        this.latchedHigh = value >>> 0;
        break;
      case 0x08:
        this.alarmNs = (BigInt(this.alarmHigh) << 32n) | v;
        this.alarmFired = false;
        break;
      case 0x0c:
        this.alarmHigh = value >>> 0;
        break;
      case 0x10:
        this.irqEnabled = (value & 1) !== 0;
        break;
      case 0x14:
        this.alarmNs = -1n;
        this.alarmFired = false;
        break;
      case 0x1c:
        this.irqPending = false;
        break;
    }
    this.update();
  }
}
