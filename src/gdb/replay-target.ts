/**
 * What the GDB stub drives in a replay: forwards and backwards execution over
 * the Replayer's checkpoints. Reverse-continue works as rr and QEMU do it:
 * go back to the checkpoint before here, run forwards to here noting every
 * breakpoint and watchpoint hit, then go to the last one; if there was none,
 * try the checkpoint before that, down to the start of the recording.
 */
import type { VirtMachine } from '../machine/virt.js';
import type { Replayer, ReplayStatus } from '../replay/replayer.js';

export type StopReason =
  | { kind: 'trap' }
  | { kind: 'interrupt' }
  | { kind: 'breakpoint' }
  | { kind: 'watch'; write: boolean; index: number; addrLo: number; addrHi: number }
  | { kind: 'history-begin' }
  | { kind: 'history-end'; why: string };

export interface DebugTarget {
  readonly vm: VirtMachine;
  readonly reversible: boolean;
  /** Registers and memory may be changed (a live VM); a replay refuses, to stay exact. */
  readonly writable: boolean;
  resume(): Promise<StopReason>;
  step(): Promise<StopReason>;
  reverseResume(): Promise<StopReason>;
  reverseStep(): Promise<StopReason>;
  seek(icount: number): StopReason;
  /** Ask a running resume() to stop (GDB's Ctrl-C). */
  interrupt(): void;
}

interface Hit {
  icount: number;
  reason: StopReason;
}

const yieldToEvents = () => new Promise<void>((r) => setImmediate(r));

export class ReplayTarget implements DebugTarget {
  readonly reversible = true;
  readonly writable = false;
  private interrupted = false;

  constructor(
    readonly vm: VirtMachine,
    private readonly replayer: Replayer,
  ) {}

  interrupt(): void {
    this.interrupted = true;
  }

  private endReason(st: ReplayStatus): StopReason {
    switch (st.state) {
      case 'done':
        return { kind: 'history-end', why: `the recording ends here (guest ${st.exitKind})` };
      case 'truncated':
        return { kind: 'history-end', why: 'the recording was cut short here' };
      case 'diverged':
        return {
          kind: 'history-end',
          why: `replay diverged at icount ${st.divergence.icount}: ${st.divergence.reason}`,
        };
      default:
        return { kind: 'trap' };
    }
  }

  /** The hit the CPU just reported, and the icount GDB should see it at. */
  private takeHit(): Hit {
    const cpu = this.vm.cpu;
    const kind = cpu.debugHit;
    cpu.debugHit = 0;
    if (kind === 2) {
      const h = cpu.watchHit;
      // Watchpoints stop before the access (RISC-V triggers fire before; GDB steps over them).
      return {
        icount: h.icount,
        reason: {
          kind: 'watch',
          write: h.write,
          index: h.index,
          addrLo: h.addrLo,
          addrHi: h.addrHi,
        },
      };
    }
    return { icount: cpu.icount, reason: { kind: 'breakpoint' } };
  }

  /** Move without stopping at breakpoints or watchpoints. */
  private quietSeek(icount: number): ReplayStatus {
    const cpu = this.vm.cpu;
    cpu.debugArmed = false;
    try {
      return this.replayer.seek(icount);
    } finally {
      cpu.debugArmed = true;
      cpu.debugHit = 0;
      // The breakpoint a continue started from is passed: met again after a seek (a reverse
      // continue's run over that stretch), it counts. GDB's `next` continues from a function's
      // entry it stepped into; a later reverse-next must find that entry again.
      cpu.skipBreakpointOnce(-1, 0, 0);
    }
  }

  async resume(): Promise<StopReason> {
    const cpu = this.vm.cpu;
    this.interrupted = false;
    cpu.debugArmed = true;
    cpu.debugHit = 0;
    cpu.skipBreakpointOnce(cpu.icount, cpu.pcLo, cpu.pcHi);
    this.replayer.pauseAt(Infinity);
    for (;;) {
      const st = this.replayer.step(5_000_000);
      if (st.state === 'paused' && st.debug) {
        const hit = this.takeHit();
        if (hit.reason.kind === 'watch') this.quietSeek(hit.icount);
        return hit.reason;
      }
      if (st.state !== 'running' && st.state !== 'paused') return this.endReason(st);
      await yieldToEvents();
      if (this.interrupted) return { kind: 'interrupt' };
    }
  }

  async step(): Promise<StopReason> {
    const st0 = this.replayer.status;
    if (st0.state !== 'running') return this.endReason(st0);
    const cpu = this.vm.cpu;
    cpu.debugArmed = false;
    let st: ReplayStatus;
    try {
      st = this.replayer.runTo(cpu.icount + 1);
    } finally {
      cpu.debugArmed = true;
      cpu.debugHit = 0;
    }
    return st.state === 'paused' ? { kind: 'trap' } : this.endReason(st);
  }

  async reverseStep(): Promise<StopReason> {
    const cpu = this.vm.cpu;
    if (cpu.icount <= this.replayer.startIcount) return { kind: 'history-begin' };
    this.quietSeek(cpu.icount - 1);
    return { kind: 'trap' };
  }

  async reverseResume(): Promise<StopReason> {
    const cpu = this.vm.cpu;
    this.interrupted = false;
    const here = cpu.icount;
    const herePcLo = cpu.pcLo;
    const herePcHi = cpu.pcHi;
    let end = here;
    const starts = this.replayer.checkpointIcounts().filter((c) => c < here);
    for (let k = starts.length - 1; k >= 0; k--) {
      const from = starts[k];
      this.quietSeek(from);
      const hits: Hit[] = [];
      for (;;) {
        cpu.debugArmed = true;
        const st = this.replayer.runTo(end);
        if (st.state === 'paused' && st.debug) {
          const hit = this.takeHit();
          // The breakpoint we are sitting on does not count as an earlier hit.
          const atHere = hit.icount === here && cpu.pcLo === herePcLo && cpu.pcHi === herePcHi;
          if (hit.icount < here && !atHere) hits.push(hit);
          if (hit.reason.kind === 'breakpoint')
            cpu.skipBreakpointOnce(cpu.icount, cpu.pcLo, cpu.pcHi);
          continue;
        }
        break;
      }
      if (hits.length) {
        const last = hits[hits.length - 1];
        // Going backwards, a watchpoint is met just after the access; GDB then steps back
        // over it (RISC-V watchpoints are non-steppable) and stops at the accessing instruction.
        this.quietSeek(last.reason.kind === 'watch' ? last.icount + 1 : last.icount);
        return last.reason;
      }
      end = from;
      await yieldToEvents();
      if (this.interrupted) {
        this.quietSeek(from);
        return { kind: 'interrupt' };
      }
    }
    this.quietSeek(this.replayer.startIcount);
    return { kind: 'history-begin' };
  }

  seek(icount: number): StopReason {
    const st = this.quietSeek(Math.max(icount, this.replayer.startIcount));
    return st.state === 'paused' ? { kind: 'trap' } : this.endReason(st);
  }
}
