/**
 * A running machine's speed for the page: millions of instructions per
 * second over the last ~1.5 s of (time, icount) samples. Used by the
 * replay worker and the live machine's worker alike.
 */
export class SpeedMeter {
  private samples: { t: number; icount: number }[] = [];

  constructor(private readonly windowMs = 1500) {}

  /** Forget the samples (the machine stopped), or start again from one. */
  reset(t?: number, icount?: number): void {
    this.samples = t === undefined || icount === undefined ? [] : [{ t, icount }];
  }

  add(t: number, icount: number): void {
    const s = this.samples;
    s.push({ t, icount });
    while (s.length > 2 && t - s[0].t > this.windowMs) s.shift();
  }

  /** 0 until there are two samples apart in time. */
  get mips(): number {
    const s = this.samples;
    if (s.length < 2) return 0;
    const a = s[0];
    const b = s[s.length - 1];
    return b.t > a.t ? (b.icount - a.icount) / (b.t - a.t) / 1000 : 0;
  }
}
