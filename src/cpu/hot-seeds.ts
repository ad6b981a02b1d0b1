/**
 * Hot code carried from one run to the next (a profile, kept by the host:
 * src/host/hot-profile.ts). A process's first boot interprets 8.5 M
 * instructions, two thirds of them in code that turns hot later: each
 * block is interpreted for its first `hotAfter` visits, then waits for its
 * batch. A run of the same images finds the same code at the same RAM
 * offsets, so the blocks that a run compiled are seeded into the next
 * one's hot counters: a region's entry SEED_VISITS visits short of hot,
 * the other basic blocks of its region at `takenHot`, so that traces take
 * the same shape (scan-region.ts).
 *
 * A seed is only a hint, and nothing the guest can see depends on it:
 * which code runs compiled and which interpreted never changes a result
 * (DESIGN rules 8 and 10: the engines agree instruction by instruction).
 * A seed that is wrong (a program loaded at another offset this time)
 * would have cold code compiled at its first visit, so each entry carries
 * a fingerprint of the code it was compiled from: where the bytes there
 * now differ, the dispatcher counts the visits from 1 as for any code
 * (`holds`).
 */
import type { CodeCache } from './code-cache.js';
import { CACHE_MASK } from './hart-memory.js';

/** Seeds kept at most (a boot compiles about 2,300 regions and 3,900 blocks). */
export const MAX_SEEDS = 32768;
/** Bytes of code a fingerprint covers, from the block's start, within its page. */
const FINGERPRINT_BYTES = 32;
/**
 * Visits a seeded entry still needs to turn hot: code this run reaches
 * only once or twice is not compiled for a seed, so it stays out of this
 * run's profile, and seeds that no longer find hot code drop out. One
 * visit interpreted 3.87 M instructions of a boot, 8 visits 4.17 M.
 */
export const SEED_VISITS = 8;
/** A seed's flag: a later basic block of a region, not its entry. */
export const SEED_INNER = 1;

/** FNV-1a of the code at RAM offset `off` (up to FINGERPRINT_BYTES, not past its page). */
export function codeFingerprint(ram8: Uint8Array, off: number): number {
  const end = Math.min(off + FINGERPRINT_BYTES, (off | 4095) + 1, ram8.length);
  let h = 0x811c9dc5;
  for (let i = off; i < end; i++) h = Math.imul(h ^ ram8[i], 0x01000193);
  return h >>> 0;
}

/**
 * Blocks compiled in this run, for the next (RAM offset, fingerprint,
 * flags), each offset once, in the order they were first compiled.
 */
export class CompiledLog {
  private readonly seen = new Set<number>();
  private readonly words: number[] = [];

  /** Block at `off` compiled from the bytes in `ram8`; `inner`: not its region's entry. */
  note(off: number, inner: boolean, ram8: Uint8Array): void {
    if (this.seen.has(off) || this.seen.size >= MAX_SEEDS) return;
    this.seen.add(off);
    this.words.push(off, codeFingerprint(ram8, off), inner ? SEED_INNER : 0);
  }

  get size(): number {
    return this.seen.size;
  }

  /** (offset, fingerprint, flags) triples. */
  triples(): Uint32Array {
    return Uint32Array.from(this.words);
  }
}

/** Seeds from an earlier run, put in a code cache's hot counters. */
export class HotSeeds {
  /** A seeded entry's hot-counter slot → its place in `triples`, until the slot's first hot visit. */
  private readonly seeded = new Map<number, number>();

  /** `triples` as CompiledLog gives them; offsets at or past `ramBytes` are skipped. */
  constructor(
    private readonly triples: Uint32Array,
    private readonly ramBytes: number,
  ) {}

  get count(): number {
    return Math.floor(this.triples.length / 3);
  }

  /**
   * Raise the counters of `code` (a new machine's, before it runs): entries
   * to SEED_VISITS short of `hotAfter`, inner blocks to `takenHot`.
   */
  apply(code: CodeCache): void {
    const t = this.triples;
    for (let i = 0; i + 2 < t.length; i += 3) {
      const off = t[i];
      if (off >= this.ramBytes || (off & 1) !== 0) continue;
      const slot = (off >>> 1) & CACHE_MASK;
      const inner = (t[i + 2] & SEED_INNER) !== 0;
      const level = inner ? code.takenHot : code.hotAfter - SEED_VISITS;
      if (code.hits[slot] < level) code.hits[slot] = level;
      if (!inner) this.seeded.set(slot, i);
    }
    code.seeds = this;
  }

  /**
   * At the visit that makes `off` hot: false where its counter was seeded
   * for other code (another offset in the same slot, or other bytes at
   * this one), whose visits are then counted afresh. Each seed is looked
   * at once.
   */
  holds(off: number, ram8: Uint8Array): boolean {
    const slot = (off >>> 1) & CACHE_MASK;
    const i = this.seeded.get(slot);
    if (i === undefined) return true;
    this.seeded.delete(slot);
    return this.triples[i] === off && codeFingerprint(ram8, off) === this.triples[i + 1];
  }
}
