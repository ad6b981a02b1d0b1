/**
 * How guest time follows the host clock while a live guest waits (WFI).
 * Only the length of real sleeps depends on it: the jumps a wait ends with
 * are logged by the gate, so replay never does (DESIGN rules 2 and 5).
 *
 * - 'idle' (the default): a wait lasts its own length in host time, measured
 *   from when the guest began it, as QEMU's icount mode does with sleep=on
 *   (icount_warp_rt in QEMU's icount.c). A guest that ran ahead of the host
 *   on fast code does not sleep that lead away, and one that fell behind on
 *   a loaded host does not skip its waits to catch up: `sleep 5`, or a
 *   5-second network timeout, takes 5 s of host time either way.
 * - 'host': guest time is held to the host clock since the start: a wait
 *   ends when the host clock reaches its deadline, so a guest ahead sleeps
 *   its lead away and one behind jumps at once. The guest's clock then tells
 *   the wall time, and a run lasts at least as long as its guest time.
 */
import { TIMEBASE_HZ } from '../machine/clock.js';

export type TimeMode = 'idle' | 'host';

export const TIME_MODES: readonly TimeMode[] = ['idle', 'host'];

export class GuestPacing {
  private anchorNs = 0n;
  private anchorTicks = 0;

  constructor(
    readonly mode: TimeMode,
    private readonly hostNs: () => bigint = () => process.hrtime.bigint(),
  ) {}

  /** Tie guest time `ticks` to the host's now (at start, and after a debugger's pause: time held is not guest time). */
  anchor(ticks: number): void {
    this.anchorNs = this.hostNs();
    this.anchorTicks = ticks;
  }

  /** The guest time the host clock stands at. */
  hostTicks(): number {
    const ns = this.hostNs() - this.anchorNs;
    return this.anchorTicks + Number((ns * BigInt(TIMEBASE_HZ)) / 1_000_000_000n);
  }

  /** The guest, at `guestTicks`, begins a wait: the host clock's guest time to measure it against. */
  beginWait(guestTicks: number): number {
    if (this.mode === 'idle') this.anchor(guestTicks);
    return this.hostTicks();
  }
}
