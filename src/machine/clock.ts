/**
 * Virtual time (DESIGN rule 2): the 10 MHz timebase is derived from the
 * retired-instruction count plus idle jumps, never from the host clock.
 *
 *   mtime = floor(icount / insnsPerTick) + idleTicks
 */
import { SnapshotError, loadFields, type State } from '../snapshot/state.js';

export const TIMEBASE_HZ = 10_000_000;

export class VirtualClock {
  /** Ticks added by idle jumps (WFI with nothing to do). */
  idleTicks = 0;

  constructor(readonly insnsPerTick: number) {
    if (!(insnsPerTick >= 1) || !Number.isInteger(insnsPerTick))
      throw new Error('insnsPerTick must be a positive integer');
  }

  saveState(): State {
    return { idleTicks: this.idleTicks, insnsPerTick: this.insnsPerTick };
  }

  loadState(s: State): void {
    if (s.insnsPerTick !== this.insnsPerTick)
      throw new SnapshotError(
        `the snapshot's machine runs ${String(s.insnsPerTick)} instructions per tick, this one ${this.insnsPerTick}`,
      );
    loadFields(this, s, ['idleTicks'], 'clock');
  }

  ticksAt(icount: number): number {
    return Math.floor(icount / this.insnsPerTick) + this.idleTicks;
  }

  /** The smallest icount at which ticksAt(icount) >= ticks (with today's idleTicks); never below `from`. */
  icountForTicks(ticks: number, from: number): number {
    const need = (ticks - this.idleTicks) * this.insnsPerTick;
    return need > from ? need : from;
  }
}
