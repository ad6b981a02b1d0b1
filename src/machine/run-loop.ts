/**
 * The real-time driver of a VirtMachine (Node, or a browser's worker): runs
 * slices, lets the event loop breathe so console input arrives, and turns
 * guest idle (WFI) into real sleeping (DESIGN rules 2 and 5).
 * How long a wait sleeps: src/machine/guest-pacing.ts.
 */
import type { VirtMachine, GuestExit } from '../machine/virt.js';
import type { Gate } from '../replay/gate.js';
import { TIMEBASE_HZ } from '../machine/clock.js';
import { GuestPacing, type TimeMode } from './guest-pacing.js';
import { breathe } from '../util/next-task.js';

/** Host milliseconds of guest execution between two turns of the event loop. */
const SLICE_MS = 20;
/** Instructions per slice before we learn the real speed. */
const FIRST_BUDGET = 200_000;
/** Longest sleep in one go while the guest idles (the loop looks at host input and stop requests in between). */
const MAX_IDLE_WAIT_MS = 1000;

export interface RunLoopHooks {
  /** Called after every slice (flush console output, etc.). */
  afterSlice?(): void;
  /** An icount the loop must stop at exactly (state digests), and what to do there. */
  nextStop?(): number;
  atStop?(): void;
  /** A breakpoint or watchpoint stopped the hart; the loop is now paused. */
  onDebugStop?(): void;
}

export class RunLoop {
  private stopped: GuestExit | undefined;
  private wake: (() => void) | undefined;
  /** Held by a debugger: the guest does not run, and its clock does not move. */
  private paused = false;
  private unpause: (() => void) | undefined;
  private readonly pacing: GuestPacing;

  constructor(
    private readonly vm: VirtMachine,
    private readonly gate: Gate,
    private readonly hooks: RunLoopHooks = {},
    timeMode: TimeMode = 'idle',
  ) {
    this.pacing = new GuestPacing(timeMode);
  }

  /** Host input arrived (console): wake the loop if it sleeps in guest idle. */
  notifyInput(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Stop the run from the host side (Ctrl-A X, signal). */
  stop(exit: GuestExit): void {
    this.stopped = exit;
    this.notifyInput();
    this.unpause?.();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Hold the guest (a debugger stopped it); takes effect between slices. */
  pause(): void {
    this.paused = true;
    this.notifyInput();
  }

  /** Let the guest run again; its clock goes on from where it stopped. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const u = this.unpause;
    this.unpause = undefined;
    u?.();
  }

  async run(): Promise<GuestExit> {
    const vm = this.vm;
    this.pacing.anchor(vm.now());
    let budget = FIRST_BUDGET;
    for (;;) {
      if (this.stopped) return this.stopped;
      if (this.paused) {
        await new Promise<void>((r) => (this.unpause = r));
        // Host time spent paused is not guest time.
        this.pacing.anchor(vm.now());
        continue;
      }
      let slice = budget;
      if (this.hooks.nextStop) {
        if (vm.cpu.icount >= this.hooks.nextStop()) this.hooks.atStop?.();
        slice = Math.max(1, Math.min(budget, this.hooks.nextStop() - vm.cpu.icount));
      }
      const t0 = performance.now();
      const { result, executed } = vm.runSlice(slice);
      const dt = performance.now() - t0;
      this.hooks.afterSlice?.();
      if (result === 'exit') return vm.exit!;
      if (result === 'debug') {
        this.paused = true;
        this.hooks.onDebugStop?.();
        continue;
      }
      if (result === 'idle') {
        await this.idle();
        continue;
      }
      // Aim for SLICE_MS of work per slice.
      if (dt > 0.5 && executed > 0) {
        const rate = executed / dt;
        budget = Math.max(10_000, Math.min(50_000_000, Math.round(rate * SLICE_MS)));
      }
      await breathe();
    }
  }

  /**
   * Guest waits for an interrupt: sleep until its next deadline or host
   * input, then jump virtual time. Each jump is an event in a recording, so
   * there is one per wait: when the host timer fires the deadline has come
   * (host timers are ms-grained; virtual time may run ahead of the host by
   * that much, and the next wait absorbs it), never a run of small steps.
   */
  private async idle(): Promise<void> {
    const vm = this.vm;
    const deadline = vm.nextDeadline();
    const host = this.pacing.beginWait(vm.now());
    if (deadline <= host) {
      // Due already (or, holding to the host clock, the guest is behind it): go on at once.
      this.gate.idleJump(deadline);
      await breathe();
      return;
    }
    const waitMs = deadline === Infinity ? Infinity : ((deadline - host) * 1000) / TIMEBASE_HZ;
    let byInput = false;
    if (waitMs >= 1) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          () => {
            this.wake = undefined;
            resolve();
          },
          Math.min(waitMs, MAX_IDLE_WAIT_MS),
        );
        this.wake = () => {
          byInput = true;
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (byInput || waitMs > MAX_IDLE_WAIT_MS)
      // Input came, or a long wait is cut into pieces: time moves to now.
      this.gate.idleJump(Math.min(deadline, Math.max(vm.now(), this.pacing.hostTicks())));
    else this.gate.idleJump(deadline);
  }
}
