/**
 * Observers of the hart, for replay-time analysis (src/plugin): they are
 * told of traps, trap returns, CSR writes by guest instructions and, when
 * asked, of every instruction before it runs. They get numbers, not the
 * hart: what they see cannot change what the guest does.
 *
 * With no hooks set (Cpu.hooks undefined) the cost is one field check on
 * paths that are slow anyway (a trap, an xRET, a CSR write); the
 * instruction hook runs the hart one instruction at a time on the
 * interpreter (runHooked below), and nothing else slows down for it.
 */
import type { Cpu } from './cpu.js';
import { enterSlice, interpret } from './interpreter.js';

export interface CpuHooks {
  /**
   * A trap was taken (pc is now at the handler): `epc` (lo, hi) is where it
   * happened, `from` and `to` the privilege before and after. Exceptions
   * and interrupts alike; not a debugger's watchpoint stop.
   */
  trap?(
    cause: number,
    interrupt: boolean,
    tvalLo: number,
    tvalHi: number,
    epcLo: number,
    epcHi: number,
    from: number,
    to: number,
  ): void;
  /** MRET (`machine`) or SRET returned from `from` to `to`, at the pc now. */
  xret?(machine: boolean, from: number, to: number): void;
  /** A guest CSR instruction wrote CSR `num` (read its value back for what it now holds). */
  csrWrite?(num: number): void;
  /** Called before each instruction (pc and icount as the hart has them). */
  insn?(): void;
}

/**
 * run() with an instruction hook: one interpreted instruction at a time,
 * the hook before each — the first of a trap handler too. The interpreter
 * goes on into the handler within the same call after a trap (a trapping
 * instruction does not count); a trap limit of one more trap makes it stop
 * at the handler's first fetch instead (every trap passes the slow fetch
 * path, interpreter.ts), and the loop then carries on there. The slice's
 * own limit on traps (enterSlice) still ends it.
 */
export function runHooked(h: Cpu, maxInsns: number): number {
  const max = maxInsns >= 0x7fffffff ? 0x7fffffff : maxInsns | 0;
  if (!enterSlice(h, max)) return 0;
  const hook = h.hooks!.insn!;
  const sliceLimit = h.trapLimit;
  let n = 0;
  while (n < max && h.trapsTaken < sliceLimit) {
    hook();
    const traps = h.trapsTaken;
    h.trapLimit = Math.min(sliceLimit, traps + 1);
    n += interpret(h, 1, false);
    if (h.stopped) {
      // Stopped at a trap handler's first fetch only for the hook's sake: go on there.
      if (h.debugHit === 0 && h.trapsTaken > traps && h.trapsTaken < sliceLimit) {
        h.stopped = false;
        continue;
      }
      break;
    }
  }
  h.trapLimit = sliceLimit;
  return n;
}
