/**
 * NS16550A UART. Transmission is immediate (deterministic). Host input
 * (through the gate) waits in a queue and moves into the 16-byte receive
 * FIFO only on guest actions — reading RBR, enabling the receive interrupt
 * or the FIFO — never on host timing, so replay feeds the same bytes at the
 * same instructions. Input is held until a driver enables the receive
 * interrupt: Linux's 8250 start-up resets the FIFO and would drop it.
 */
import type { IrqLine, MmioDevice } from './device.js';
import { HostInputQueue } from './virtio/host-input-queue.js';
import { loadFields, saveFields, sub, type State } from '../snapshot/state.js';

const IER_RDI = 1,
  IER_THRI = 2;
const LSR_DR = 0x01,
  LSR_THRE = 0x20,
  LSR_TEMT = 0x40;
const FIFO_SIZE = 16;

const UART_FIELDS = [
  'ier',
  'lcr',
  'mcr',
  'scr',
  'dll',
  'dlm',
  'fcr',
  'rx',
  'rxHead',
  'rxCount',
  'thrIpending',
];

export class Uart16550 implements MmioDevice {
  readonly name = 'uart16550';
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** THR-empty interrupt pending (cleared by reading IIR or writing THR). */
  private thrIpending = false;
  private readonly input = new HostInputQueue(1 << 16, 1 << 20);

  constructor(
    private readonly irq: IrqLine,
    private readonly output: (byte: number) => void,
  ) {}

  saveState(): State {
    return { ...saveFields(this, UART_FIELDS), input: this.input.saveState() };
  }

  loadState(s: State): void {
    loadFields(this, s, UART_FIELDS, 'uart');
    this.input.loadState(sub(s, 'input', 'uart'));
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & 1) !== 0;
  }

  /** Room left in the receive FIFO. */
  rxSpace(): number {
    return (this.fifoEnabled ? FIFO_SIZE : 1) - this.rxCount;
  }

  /** True when a driver has enabled the receive interrupt (someone listens). */
  rxListening(): boolean {
    return (this.ier & IER_RDI) !== 0;
  }

  /** Host input (from the gate): queued, then fed to the FIFO as the guest makes room. */
  queueInput(bytes: Uint8Array): void {
    if (bytes.length && this.input.push(bytes)) this.refill();
  }

  /** Host input not yet in the FIFO. */
  hasPendingInput(): boolean {
    return this.input.length > 0;
  }

  private refill(): void {
    if (!this.rxListening()) return;
    while (this.input.length && this.rxSpace() > 0) {
      const head = this.input.peek()!;
      const n = this.receive(head);
      if (n === head.length) this.input.shift();
      else this.input.replaceHead(head.subarray(n));
    }
  }

  /** Push bytes into the FIFO; returns how many were accepted. */
  receive(bytes: Uint8Array, offset = 0): number {
    let n = 0;
    while (offset + n < bytes.length && this.rxSpace() > 0) {
      this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = bytes[offset + n];
      this.rxCount++;
      n++;
    }
    if (n) this.updateIrq();
    return n;
  }

  private updateIrq(): void {
    this.irq.set(this.iirValue() !== 1 && (this.iirValue() & 1) === 0);
  }

  private iirValue(): number {
    if (this.ier & IER_RDI && this.rxCount > 0) return 0x04;
    if (this.ier & IER_THRI && this.thrIpending) return 0x02;
    return 0x01;
  }

  read(offset: number, width: 1 | 2 | 4): number {
    void width;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset) {
      case 0: {
        if (dlab) return this.dll;
        if (this.rxCount === 0) return 0;
        const b = this.rx[this.rxHead];
        this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
        this.rxCount--;
        this.refill();
        this.updateIrq();
        return b;
      }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        const v = this.iirValue();
        if (v === 0x02) {
          this.thrIpending = false;
          this.updateIrq();
        }
        return v | (this.fifoEnabled ? 0xc0 : 0);
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return (this.rxCount > 0 ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
      case 6:
        // DCD, DSR, CTS asserted; in loopback they follow MCR (OUT2, OUT1, DTR, RTS).
        if (this.mcr & 0x10)
          return (
            (((this.mcr & 8) << 4) |
              ((this.mcr & 4) << 4) |
              ((this.mcr & 1) << 5) |
              ((this.mcr & 2) << 3)) &
            0xf0
          );
        return 0xb0;
      case 7:
        return this.scr;
    }
    return 0;
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    void width;
    value &= 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset) {
      case 0:
        if (dlab) {
          this.dll = value;
          return;
        }
        if (this.mcr & 0x10) this.receive(Uint8Array.of(value));
        else this.output(value);
        // Sent at once: the holding register is empty again.
        this.thrIpending = true;
        this.updateIrq();
        return;
      case 1:
        if (dlab) {
          this.dlm = value;
          return;
        }
        // Enabling THRI with an empty holding register raises THRE at once (Linux tests this).
        if (value & IER_THRI && !(this.ier & IER_THRI)) this.thrIpending = true;
        this.ier = value & 0x0f;
        this.refill();
        this.updateIrq();
        return;
      case 2:
        if (value & 2) {
          this.rxHead = 0;
          this.rxCount = 0;
        }
        this.fcr = value & 0xc9;
        this.refill();
        this.updateIrq();
        return;
      case 3:
        this.lcr = value;
        return;
      case 4:
        this.mcr = value & 0x1f;
        return;
      case 7:
        this.scr = value;
        return;
    }
  }
}
