/**
 * What the GDB stub drives in `vmrs run --gdb`: a live machine, forwards
 * only. The real-time run loop keeps running it (host input, idle sleeps);
 * the debugger holds and releases it, and single-steps it while held.
 */
import type { VirtMachine } from '../machine/virt.js';
import type { RunLoop } from '../machine/run-loop.js';
import type { DebugTarget, StopReason } from './replay-target.js';

export class LiveTarget implements DebugTarget {
  readonly reversible = false;
  readonly writable = true;
  private waiting: ((r: StopReason) => void) | undefined;

  constructor(
    readonly vm: VirtMachine,
    private readonly loop: RunLoop,
  ) {
    // RISC-V watchpoints fire before the access and GDB steps over them itself; a live
    // machine cannot go back, so the hart must stop with the access still undone.
    vm.cpu.watchStopsBefore = true;
  }

  /** The run loop paused at a breakpoint or watchpoint. */
  debugStopped(): void {
    const cpu = this.vm.cpu;
    const kind = cpu.debugHit;
    cpu.debugHit = 0;
    const h = cpu.watchHit;
    this.finish(
      kind === 2
        ? { kind: 'watch', write: h.write, index: h.index, addrLo: h.addrLo, addrHi: h.addrHi }
        : { kind: 'breakpoint' },
    );
  }

  /** The guest exited while running. */
  exited(why: string): void {
    this.finish({ kind: 'history-end', why });
  }

  private finish(r: StopReason): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(r);
  }

  resume(): Promise<StopReason> {
    const cpu = this.vm.cpu;
    cpu.debugArmed = true;
    cpu.debugHit = 0;
    cpu.skipBreakpointOnce(cpu.icount, cpu.pcLo, cpu.pcHi);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.loop.resume();
    });
  }

  async step(): Promise<StopReason> {
    const cpu = this.vm.cpu;
    cpu.debugArmed = false;
    try {
      // One instruction (or a trap taken); an idle hart lets time reach its next deadline first.
      const before = cpu.icount;
      for (let tries = 0; tries < 1000 && cpu.icount === before; tries++) {
        const r = this.vm.runSlice(1);
        if (r.result === 'exit') return { kind: 'history-end', why: 'the guest exited' };
        if (r.result === 'idle') {
          const d = this.vm.nextDeadline();
          if (d === Infinity) break;
          this.vm.advanceTimeTo(d);
        }
        if (r.executed === 0 && r.result !== 'idle') break;
      }
    } finally {
      cpu.debugArmed = true;
      cpu.debugHit = 0;
    }
    return { kind: 'trap' };
  }

  async reverseResume(): Promise<StopReason> {
    throw new Error('a live machine cannot run backwards: record it and debug the replay');
  }

  async reverseStep(): Promise<StopReason> {
    throw new Error('a live machine cannot run backwards: record it and debug the replay');
  }

  seek(): StopReason {
    throw new Error('seek needs a replay');
  }

  interrupt(): void {
    if (this.loop.isPaused) return;
    this.loop.pause();
    // The loop notices between slices; report once it has.
    setImmediate(() => this.finish({ kind: 'interrupt' }));
  }
}
