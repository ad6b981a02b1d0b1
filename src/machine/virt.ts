/**
 * The `virt` board: QEMU virt's memory map (docs/design.md) assembled from the
 * CPU, the bus and one module per device, and the deterministic slice loop
 * that runs it.
 *
 * Everything here is a function of the guest's own actions and of the host
 * inputs handed in through explicit methods (console bytes, idle jumps): no
 * host clock, no host timers. The host-side driver (src/machine/run-loop.ts)
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
import { LoadedPages } from './loaded-pages.js';
import { setupBoot, type BootInfo } from './boot.js';
import type { HartInterruptLines, TimeSource } from '../devices/device.js';
import { VirtioMmio } from '../devices/virtio/mmio.js';
import { GuestRam } from '../devices/virtio/guest-ram.js';
import { VirtioBlk, type BlkRequestObserver } from '../devices/virtio/blk.js';
import { VirtioNet } from '../devices/virtio/net.js';
import { VirtioRng } from '../devices/virtio/rng.js';
import { VirtioConsole } from '../devices/virtio/console.js';
import type { BlockStore, ByteSink, EntropySource, FrameSink } from '../devices/virtio/backends.js';
import type { VirtioDeviceModel } from '../devices/virtio/device-model.js';
import { SnapshotError, item, sub, type SaveOptions, type State } from '../snapshot/state.js';

export const RAM_BASE = 0x80000000;
export const BOOT_ROM_BASE = 0x1000;
export const SIFIVE_TEST_BASE = 0x100000;
export const RTC_BASE = 0x101000;
export const CLINT_BASE = 0x2000000;
export const PLIC_BASE = 0xc000000;
export const UART0_BASE = 0x10000000;
export const VIRTIO_BASE = 0x10001000;
export const VIRTIO_SLOTS = 8;
/** virtio-mmio slot n is at VIRTIO_BASE + 0x1000·n with PLIC source VIRTIO_IRQ + n. */
export const VIRTIO_IRQ = 1;
export const UART0_IRQ = 10;
export const RTC_IRQ = 11;

/** A virtio device to plug into the next free slot, with its host backend. */
export type VirtioSpec =
  | { kind: 'blk'; store: BlockStore; serial?: string; onRequest?: BlkRequestObserver }
  | { kind: 'net'; sink: FrameSink; mac: Uint8Array; linkUp?: boolean }
  | { kind: 'rng'; source: EntropySource }
  | { kind: 'console'; sink: ByteSink };

/**
 * Longest run of instructions between two looks at the board. A run ends
 * at every device deadline, MMIO store and interrupt-enabling CSR write
 * anyway, so what the board must poll is HTIF's tohost (a word in RAM that
 * plain stores write): with HTIF, runs stay short. Without it, a run's end
 * is invisible to the guest and costs the host: the slice's entry, the
 * devices' update, and the last block, which no longer fits, interpreted.
 * At 65,536 instructions `sha256sum` of 4 MiB made 5,700 runs (its timer
 * deadlines only 1,000) and interpreted 0.12 M instructions at their ends.
 * (A storm of traps ends a run sooner, whatever its length: interpreter.ts.)
 */
const MAX_RUN_HTIF = 1 << 16;
const MAX_RUN = 1 << 20;

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
  /** virtio devices, in slot order from slot 0. */
  virtio?: VirtioSpec[];
}

export type ExitKind = 'poweroff' | 'fail' | 'reset' | 'htif' | 'stopped';

export interface GuestExit {
  kind: ExitKind;
  /** Process exit status the guest asked for (0 for poweroff). */
  status: number;
}

/** 'debug': a breakpoint or watchpoint stopped the hart (cpu.debugHit says which). */
/**
 * 'stuck': the hart traps at every instruction and retires none (its trap
 * vector faults too): it will never move again by itself.
 */
export type SliceResult = 'budget' | 'idle' | 'exit' | 'debug' | 'stuck';

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
  /** All eight virtio-mmio slots; empty ones answer DeviceID 0. */
  readonly virtio: VirtioMmio[] = [];
  readonly nics: VirtioNet[] = [];
  readonly disks: VirtioBlk[] = [];
  hvc: VirtioConsole | undefined;
  exit: GuestExit | undefined;
  /** RAM as the images load it (checkpoints refer to pages the guest left so). */
  readonly loaded: LoadedPages;

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
      virtioSlots: Array.from({ length: VIRTIO_SLOTS }, (_, i) => i),
    });
    this.loaded = new LoadedPages(this.boot.loaded);
    this.bus.attach(BOOT_ROM_BASE, this.boot.bootRom.size, this.boot.bootRom.device);
    this.bus.attach(SIFIVE_TEST_BASE, 0x1000, this.test);
    this.bus.attach(RTC_BASE, 0x1000, this.rtc);
    this.bus.attach(CLINT_BASE, 0x10000, this.clint);
    this.bus.attach(PLIC_BASE, 0x600000, this.plic);
    this.bus.attach(UART0_BASE, 0x100, this.uart);
    const specs = config.virtio ?? [];
    if (specs.length > VIRTIO_SLOTS) throw new Error(`at most ${VIRTIO_SLOTS} virtio devices`);
    const ram = new GuestRam(this.bus);
    for (let slot = 0; slot < VIRTIO_SLOTS; slot++) {
      const model = specs[slot] ? this.makeVirtio(specs[slot]) : undefined;
      const t = new VirtioMmio(slot, ram, this.plic.irq(VIRTIO_IRQ + slot), time, model);
      this.bus.attach(VIRTIO_BASE + 0x1000 * slot, 0x1000, t);
      this.virtio.push(t);
    }
    this.htif =
      this.boot.tohost !== undefined
        ? new Htif(this.bus, this.boot.tohost, this.boot.fromhost, consoleOut)
        : undefined;
    if (this.boot.tohost !== undefined && this.bus.isRam(this.boot.tohost, 8))
      cpu.watchPage = (this.boot.tohost - this.bus.ramBase) & ~0xfff;
    cpu.reset(this.boot.resetPc, 0);
  }

  private makeVirtio(spec: VirtioSpec): VirtioDeviceModel {
    switch (spec.kind) {
      case 'blk': {
        const d = new VirtioBlk(spec.store, spec.serial, spec.onRequest);
        this.disks.push(d);
        return d;
      }
      case 'net': {
        const d = new VirtioNet(spec.sink, spec.mac, spec.linkUp ?? true);
        this.nics.push(d);
        return d;
      }
      case 'rng':
        return new VirtioRng(spec.source);
      case 'console':
        if (this.hvc) throw new Error('only one virtio console');
        this.hvc = new VirtioConsole(spec.sink);
        return this.hvc;
    }
  }

  // --- Host inputs. Each takes effect at the current instruction boundary;
  // --- the gate (src/replay) is the only caller in a recording.

  /** Console bytes for the UART (ttyS0). */
  queueConsoleInput(bytes: Uint8Array): void {
    this.uart.queueInput(bytes);
  }

  /** Console bytes for the virtio console (hvc0). */
  queueHvcInput(bytes: Uint8Array): void {
    this.hvc?.deliver(bytes);
  }

  /** A network frame from the host for NIC `nic`. */
  queueNetFrame(nic: number, frame: Uint8Array): void {
    this.nics[nic]?.deliver(frame);
  }

  /** Link state of NIC `nic` changed on the host side. */
  setNetLink(nic: number, up: boolean): void {
    this.nics[nic]?.setLink(up);
  }

  /** The next virtual-time deadline (mtime ticks) at which a device or the hart's Sstc timer fires. */
  nextDeadline(): number {
    const now = this.now();
    let best = Infinity;
    const clint = this.clint.nextDeadline(0);
    if (clint > now && clint < best) best = clint;
    const sstc = this.cpu.stimecmpTicks();
    if (sstc > now && sstc < best) best = sstc;
    const rtc = this.rtc.nextDeadline();
    if (rtc > now && rtc < best) best = rtc;
    const virtio = this.virtio;
    for (let i = 0; i < virtio.length; i++) {
      const d = virtio[i].nextDeadline();
      if (d < best) best = d > now ? d : now + 1;
    }
    return best;
  }

  now(): number {
    return this.clock.ticksAt(this.cpu.icount);
  }

  /** Pass the pages written since the last call to the bus's dirty listeners (digests, checkpoints). */
  collectDirty(): void {
    this.bus.collectDirty();
    // Pages re-enter the write TLB, and are flagged again, on their next write.
    this.cpu.flushWriteTlb();
  }

  /** The whole machine's state except RAM (see src/snapshot/); state digests build on it too. */
  saveState(opts?: SaveOptions): State {
    return {
      clock: this.clock.saveState(),
      cpu: this.cpu.saveState(),
      clint: this.clint.saveState(),
      plic: this.plic.saveState(),
      uart: this.uart.saveState(),
      rtc: this.rtc.saveState(),
      virtio: this.virtio.map((v) => v.saveState(opts)),
    };
  }

  /**
   * Put a saved state back (RAM separately); the machine then runs on
   * exactly as the saved one would. `ramFlagged`: whoever restored RAM
   * flagged the pages it changed; otherwise every page counts as written.
   */
  loadState(s: State, ramFlagged = false): void {
    const virtio = s.virtio;
    if (!Array.isArray(virtio) || virtio.length !== this.virtio.length)
      throw new SnapshotError('the snapshot has another set of virtio slots');
    this.clock.loadState(sub(s, 'clock', 'machine'));
    this.cpu.loadState(sub(s, 'cpu', 'machine'));
    this.clint.loadState(sub(s, 'clint', 'machine'));
    this.plic.loadState(sub(s, 'plic', 'machine'));
    this.uart.loadState(sub(s, 'uart', 'machine'));
    this.rtc.loadState(sub(s, 'rtc', 'machine'));
    this.virtio.forEach((v, i) => v.loadState(item(virtio, i, 'virtio')));
    this.exit = undefined;
    this.bus.mmioWritten = false;
    if (!ramFlagged) {
      this.bus.dirtyPages.fill(1);
      // RAM is being replaced whole: no translated block may survive. (A restore that flags
      // the pages it changed writes them through Bus.noteDmaWrite, which drops their blocks.)
      this.cpu.code.clear();
    }
    this.cpu.flushWriteTlb();
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
    const now = this.now();
    const virtio = this.virtio;
    for (let i = 0; i < virtio.length; i++) virtio[i].update(now);
    this.cpu.updateSstc();
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
      this.updateDevices();
      let limit = Math.min(budget - executed, this.htif ? MAX_RUN_HTIF : MAX_RUN);
      const deadline = this.nextDeadline();
      if (deadline !== Infinity) {
        const at = this.clock.icountForTicks(deadline, cpu.icount) - cpu.icount;
        if (at > 0 && at < limit) limit = at;
      }
      const n = cpu.run(limit);
      executed += n;
      // Deadlines reached at the end of this slice take effect here, before the host can add
      // input at this icount — the same order in a recording and in its replay.
      this.updateDevices();
      if (this.bus.mmioWritten) this.bus.mmioWritten = false;
      if (this.htif) {
        const code = this.htif.poll();
        if (code !== undefined && !this.exit) this.exit = { kind: 'htif', status: code };
      }
      if (this.exit) return { result: 'exit', executed };
      if (cpu.debugHit !== 0) return { result: 'debug', executed };
      if (cpu.wfi && n === 0) {
        this.updateDevices();
        if (cpu.wfi && !cpu.interruptPending()) return { result: 'idle', executed };
      } else if (n === 0) return { result: 'stuck', executed };
    }
    return { result: 'budget', executed };
  }
}
