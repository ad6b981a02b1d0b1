/**
 * The `virt` board: QEMU virt's memory map (DESIGN.md) assembled from the
 * CPU, the bus and one module per device, and the deterministic slice loop
 * that runs it.
 *
 * Everything here is a function of the guest's own actions and of the host
 * inputs handed in through explicit methods (console bytes, idle jumps): no
 * host clock, no host timers. The host-side driver (src/host/run-loop.ts)
 * decides when to call these methods.
 */
import { Cpu } from '../cpu/cpu.js';
import { Bus } from './bus.js';
import { VirtualClock } from './clock.js';
import { Clint } from '../devices/clint.js';
import { Plic } from '../devices/plic.js';
import { Uart16550 } from '../devices/uart16550.js';
import { GoldfishRtc } from '../devices/goldfish-rtc.js';
import { SifiveTest } from '../devices/sifive-test.js';
import { Htif } from '../devices/htif.js';
import { setupBoot, type BootInfo } from './boot.js';
import type { HartInterruptLines, TimeSource } from '../devices/device.js';

export const RAM_BASE = 0x80000000;
export const BOOT_ROM_BASE = 0x1000;
export const SIFIVE_TEST_BASE = 0x100000;
export const RTC_BASE = 0x101000;
export const CLINT_BASE = 0x2000000;
export const PLIC_BASE = 0xc000000;
export const UART0_BASE = 0x10000000;
export const VIRTIO_BASE = 0x10001000;
export const UART0_IRQ = 10;
export const RTC_IRQ = 11;

/** Longest run of instructions between two looks at the board (HTIF, host input). */
const MAX_SLICE = 1 << 16;

export interface VirtConfig {
  memoryBytes: number;
  bios: Uint8Array | 'none';
  biosName: string;
  kernel?: Uint8Array;
  kernelName?: string;
  initrd?: Uint8Array;
  initrdName?: string;
  append: string;
  /** Guest instructions per 10 MHz tick of virtual time. */
  insnsPerTick: number;
  /** Wall-clock time the RTC starts from (a host input: recorded later by the gate). */
  rtcStartUnixNs: number;
}

export type ExitKind = 'poweroff' | 'fail' | 'reset' | 'htif';

export interface GuestExit {
  kind: ExitKind;
  /** Process exit status the guest asked for (0 for poweroff). */
  status: number;
}

export type SliceResult = 'budget' | 'idle' | 'exit';

export class VirtMachine {
  readonly bus: Bus;
  readonly clock: VirtualClock;
  readonly cpu: Cpu;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  readonly test: SifiveTest;
  readonly boot: BootInfo;
  readonly htif: Htif | undefined;
  exit: GuestExit | undefined;
  /** Console input waiting for room in the UART's receive FIFO. */
  private consoleIn: Uint8Array[] = [];

  constructor(
    readonly config: VirtConfig,
    consoleOut: (byte: number) => void,
  ) {
    this.bus = new Bus(RAM_BASE, config.memoryBytes);
    this.clock = new VirtualClock(config.insnsPerTick);
    this.cpu = new Cpu(this.bus, this.clock, 0);
    const cpu = this.cpu;
    const lines: HartInterruptLines = {
      setPending: (_hart, mask, level) => cpu.setPending(mask, level),
    };
    const time: TimeSource = { now: () => this.clock.ticksAt(cpu.icount) };
    this.clint = new Clint(lines, time, 1);
    this.plic = new Plic(lines, 1);
    this.uart = new Uart16550(this.plic.irq(UART0_IRQ), consoleOut);
    this.rtc = new GoldfishRtc(this.plic.irq(RTC_IRQ), time, config.rtcStartUnixNs);
    this.test = new SifiveTest((kind, code) => {
      if (!this.exit)
        this.exit = { kind, status: kind === 'poweroff' ? 0 : kind === 'reset' ? 0 : code };
    });
    this.boot = setupBoot(this.bus, {
      bios: config.bios,
      biosName: config.biosName,
      kernel: config.kernel,
      kernelName: config.kernelName,
      initrd: config.initrd,
      initrdName: config.initrdName,
      append: config.append,
      harts: 1,
    });
    this.bus.attach(BOOT_ROM_BASE, this.boot.bootRom.size, this.boot.bootRom.device);
    this.bus.attach(SIFIVE_TEST_BASE, 0x1000, this.test);
    this.bus.attach(RTC_BASE, 0x1000, this.rtc);
    this.bus.attach(CLINT_BASE, 0x10000, this.clint);
    this.bus.attach(PLIC_BASE, 0x600000, this.plic);
    this.bus.attach(UART0_BASE, 0x100, this.uart);
    this.htif =
      this.boot.tohost !== undefined
        ? new Htif(this.bus, this.boot.tohost, this.boot.fromhost, consoleOut)
        : undefined;
    cpu.reset(this.boot.resetPc, 0);
  }

  /** Host input for the console; delivered to the UART as its FIFO has room. */
  queueConsoleInput(bytes: Uint8Array): void {
    if (bytes.length) this.consoleIn.push(bytes);
  }

  /** Console input is waiting and the UART can take some of it now. */
  hasDeliverableConsoleInput(): boolean {
    return this.consoleIn.length > 0 && this.uart.rxListening() && this.uart.rxSpace() > 0;
  }

  /** The next virtual-time deadline (mtime ticks) at which a device or the hart's Sstc timer fires. */
  nextDeadline(): number {
    const now = this.now();
    let best = Infinity;
    for (const d of [this.clint.nextDeadline(0), this.cpu.stimecmpTicks(), this.rtc.nextDeadline()])
      if (d > now && d < best) best = d;
    return best;
  }

  now(): number {
    return this.clock.ticksAt(this.cpu.icount);
  }

  /** Idle jump: advance virtual time to `ticks` without executing (DESIGN rule 5). */
  advanceTimeTo(ticks: number): void {
    const now = this.now();
    if (ticks > now) this.clock.idleTicks += ticks - now;
    this.updateDevices();
  }

  private updateDevices(): void {
    this.clint.update();
    this.rtc.update();
    this.cpu.updateSstc();
  }

  private feedConsole(): void {
    if (!this.uart.rxListening()) return;
    while (this.consoleIn.length) {
      const head = this.consoleIn[0];
      const n = this.uart.receive(head);
      if (n === head.length) this.consoleIn.shift();
      else {
        if (n > 0) this.consoleIn[0] = head.subarray(n);
        break;
      }
    }
  }

  /**
   * Run at most `budget` instructions. Stops early when the guest exits or
   * idles (WFI with nothing pending). Deterministic: the same budgets and the
   * same inputs at the same icounts give the same machine.
   */
  runSlice(budget: number): { result: SliceResult; executed: number } {
    const cpu = this.cpu;
    let executed = 0;
    while (executed < budget) {
      if (this.exit) return { result: 'exit', executed };
      this.feedConsole();
      this.updateDevices();
      let limit = Math.min(budget - executed, MAX_SLICE);
      const deadline = this.nextDeadline();
      if (deadline !== Infinity) {
        const at = this.clock.icountForTicks(deadline, cpu.icount) - cpu.icount;
        if (at > 0 && at < limit) limit = at;
      }
      const n = cpu.run(limit);
      executed += n;
      if (this.bus.mmioWritten) this.bus.mmioWritten = false;
      if (this.htif) {
        const code = this.htif.poll();
        if (code !== undefined && !this.exit) this.exit = { kind: 'htif', status: code };
      }
      if (this.exit) return { result: 'exit', executed };
      if (cpu.wfi && n === 0) {
        this.updateDevices();
        this.feedConsole();
        if (cpu.wfi && !cpu.interruptPending()) return { result: 'idle', executed };
      }
    }
    return { result: 'budget', executed };
  }
}
