/**
 * RAM as the machine's images load it: the firmware, kernel and initrd
 * bytes and the device tree where the boot loader (boot.ts) put them, the
 * rest zero. Any page's bytes as loaded come from the images the machine
 * keeps anyway, so a recording's checkpoints can say "as loaded" for the
 * pages the guest has not written instead of storing them: a boot's first
 * checkpoint held 3.1 MiB of such pages (the kernel's code and read-only
 * data, the firmware), half of its compressed bytes.
 */
const PAGE = 4096;

/** Bytes the boot loader put in RAM: their RAM offset, and the bytes (a view of the image). */
export interface LoadedSpan {
  off: number;
  bytes: Uint8Array;
}

export class LoadedPages {
  /** Page → the spans that touch it, in load order (built at the first question). */
  private byPage: Map<number, LoadedSpan[]> | undefined;

  constructor(readonly spans: readonly LoadedSpan[]) {}

  private index(): Map<number, LoadedSpan[]> {
    if (this.byPage) return this.byPage;
    const m = new Map<number, LoadedSpan[]>();
    for (const s of this.spans) {
      if (s.bytes.length === 0) continue;
      const last = Math.floor((s.off + s.bytes.length - 1) / PAGE);
      for (let p = Math.floor(s.off / PAGE); p <= last; p++) {
        const list = m.get(p);
        if (list) list.push(s);
        else m.set(p, [s]);
      }
    }
    return (this.byPage = m);
  }

  /** The pages some image's bytes fall in, ascending. */
  pages(): number[] {
    return [...this.index().keys()].sort((a, b) => a - b);
  }

  /**
   * Page p (RAM page number) as loaded; undefined for a page no image
   * touches (zero). A view into the image where one image covers the page.
   */
  page(p: number): Uint8Array | undefined {
    const list = this.index().get(p);
    if (!list) return undefined;
    const start = p * PAGE;
    if (list.length === 1) {
      const s = list[0];
      if (s.off <= start && s.off + s.bytes.length >= start + PAGE)
        return s.bytes.subarray(start - s.off, start - s.off + PAGE);
    }
    const out = new Uint8Array(PAGE);
    for (const s of list) {
      const a = Math.max(start, s.off);
      const b = Math.min(start + PAGE, s.off + s.bytes.length);
      out.set(s.bytes.subarray(a - s.off, b - s.off), a - start);
    }
    return out;
  }
}
