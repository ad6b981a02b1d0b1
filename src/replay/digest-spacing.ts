/**
 * Where the recorder puts its state digests: every `interval` instructions
 * (the header's digestInterval), spread further apart where the guest runs
 * so fast that an interval passes in less than MIN_GAP_MS of host time.
 *
 * A digest costs a fixed 0.25 ms or so (the hart's and devices' fields) and
 * more for the pages written since the last. Every 10 M instructions is
 * 14 digests in a boot, but 130 a second in `sha256sum` on the translator,
 * where they took 6–8% of the time. Stretched (doubling while an interval
 * takes under MIN_GAP_MS, up to MAX_STRETCH times; halving once one takes
 * over twice that), digests cost about a percent wherever the guest
 * is. A replay checks each digest at the icount the log gives it (the
 * interval is not used there), so where they fall is the recorder's choice
 * and nothing the guest sees depends on it. An interval given on the
 * command line (`--digest-interval`) is kept exactly: recordings made with
 * intervals of their choosing then share the digests at common multiples.
 */
export const MIN_GAP_MS = 40;
export const MAX_STRETCH = 16;

export class DigestSpacing {
  private stretch = 1;
  private lastMs: number | undefined;

  /** With `spread` false, every `interval` exactly (as an interval given on the command line is kept). */
  constructor(
    readonly interval: number,
    private readonly spread = true,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Instructions from a digest taken now to the next one. */
  next(): number {
    if (!this.spread) return this.interval;
    const now = this.clock();
    if (this.lastMs !== undefined) {
      const ms = now - this.lastMs;
      if (ms < MIN_GAP_MS && this.stretch < MAX_STRETCH) this.stretch *= 2;
      else if (ms > 2 * MIN_GAP_MS && this.stretch > 1) this.stretch /= 2;
    }
    this.lastMs = now;
    return this.interval * this.stretch;
  }
}
