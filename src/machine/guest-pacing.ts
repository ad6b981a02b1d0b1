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
 * - 'warp': a wait with a deadline ends at once, its guest time skipped (as
 *   QEMU's icount with sleep=off): a batch job, a benchmark or a long idle
 *   recording runs as fast as the host can execute it. A wait with no
 *   deadline still waits for host input. Guest time runs ahead of the wall.
 */
import { TIMEBASE_HZ } from '../machine/clock.js';

/** The host's monotonic clock in ns (performance.now: Node and browsers alike). */
const hostNowNs = (): bigint => BigInt(Math.round(performance.now() * 1e6));

export type TimeMode = 'idle' | 'host' | 'warp';

export const TIME_MODES: readonly TimeMode[] = ['idle', 'host', 'warp'];

export class GuestPacing {
  private anchorNs = 0n;
  private anchorTicks = 0;

  constructor(
    readonly mode: TimeMode,
    private readonly hostNs: () => bigint = hostNowNs,
  ) {}

  /** Tie guest time `ticks` to the host's now (at start, and after a debugger's pause: time held is not guest time). */
  anchor(ticks: number): void {
    this.anchorNs = this.hostNs();
    this.anchorTicks = ticks;
  }

  /** The guest time the host clock stands at. */
  hostTicks(): number {
    if (this.mode === 'warp') return this.anchorTicks;
    const ns = this.hostNs() - this.anchorNs;
    return this.anchorTicks + Number((ns * BigInt(TIMEBASE_HZ)) / 1_000_000_000n);
  }

  /** The guest, at `guestTicks`, begins a wait: the host clock's guest time to measure it against. */
  beginWait(guestTicks: number): number {
    if (this.mode === 'warp') {
      // Any deadline has come already; only a wait without one sleeps (until input).
      this.anchorTicks = guestTicks;
      return Number.MAX_SAFE_INTEGER;
    }
    if (this.mode === 'idle') this.anchor(guestTicks);
    return this.hostTicks();
  }
}
