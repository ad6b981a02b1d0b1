/**
 * State digests (DESIGN rule 6): a fingerprint of the whole machine — hart,
 * clock, every device and RAM — taken at fixed icounts while recording and
 * compared while replaying. This is the layout of recording format version
 * 2; version-1 files are checked with theirs (state-digest-v1.ts).
 *
 * A digest holds three hashes that must match (the layout of the machine's
 * state, its hart and device fields, its RAM) and, to say exactly what
 * differs when they do not, what changed since the previous digest:
 *   - the hart and device fields (state-leaves.ts) whose values changed,
 *     with their values;
 *   - every RAM page written since the previous digest, with a 16-bit
 *     fingerprint of its hash. Written, not only changed: a reader that
 *     starts between two digests (a snapshot, a checkpoint) hashes RAM there
 *     and, applying the next digest's list, knows the recording's page
 *     fingerprints exactly, even of pages that changed and changed back.
 * A reader follows the digests in order and so knows every field's value and
 * every page's fingerprint as recorded; on a mismatch it names the fields
 * (with their values) and the pages that differ. The first digest of a
 * recording lists no pages: RAM there is the images, already checked by
 * their SHA-256.
 *
 * The fields are those the machine's parts save (state-leaves.ts): a part
 * that saves other fields lays digests out otherwise. A recording made so
 * (by another vmrs version) keeps its RAM checked, its fields not, and the
 * replay says so (DigestVerifier.note).
 *
 * RAM is hashed page by page; only pages written since the last digest are
 * rehashed (Bus.dirtyPages), so a digest costs little however large RAM is.
 * Taking a digest reads the machine and changes nothing the guest can see:
 * saveState copies, and collectDirty only moves the written-page flags (the
 * hart's write TLB that it flushes is unobservable to the guest).
 *
 *   digest = u8 2, u8 flags, u32 layoutId, u32 stateHash, u32 ramHash,
 *            varint leafCount,
 *            varint n, n × varint leafIndexDelta, n × (varint lo, varint zigzag(hi)),
 *            varint m, m × varint pageIndexDelta, m × u16 fingerprint
 *   flags: 1 = no page list (first digest), 2 = leaves given against all-zero
 */
import type { VirtMachine } from '../machine/virt.js';
import { GrowableBytes } from '../util/growable-bytes.js';
import { nextFlagged } from '../util/page-flags.js';
import { ZERO_PAGE_HASH, hashWords, mix } from './hash32.js';
import { PageHasher } from './page-hasher.js';
import { stateLeaves, type Leaves } from './state-leaves.js';
import { describeFieldDifferences, describePageDifferences, fieldNames } from './digest-report.js';
import { DigestCheckerV1 } from './state-digest-v1.js';

export { hex64 } from './hex.js';

const TAG = 2;
const NO_PAGE_LIST = 1;
const LEAVES_FROM_ZERO = 2;
const STATE_SEED = 0x5354;
const LAYOUT_NOTE =
  "RAM only: the recording's hart and device fields are laid out as another vmrs version saved them, so they cannot be compared";
/** Fields changed since a resync tried one and two at a time when a report explains a mismatch. */
const MAX_UNSURE = 64;

/**
 * RAM's hash is the sum of one term per page (its place and its hash), so a
 * digest updates it for the pages written only. Any change to one page, or
 * to a few, changes the sum but for a chance of 2^-32.
 */
const pageTerm = (p: number, h: number) => mix(mix(0x52414d, p), h);

/**
 * RAM's hash with every page zero (the sum of pageTerm(p, ZERO_PAGE_HASH)),
 * at powers of two of pages: a digester starts from it, and summing 65,536
 * terms in code V8 has not optimized yet took 3-5 ms of every recording's,
 * replay's and verifying worker's start. The unit test recomputes them.
 */
export const ZERO_RAM_SUMS: readonly (readonly [pages: number, sum: number])[] = [
  [4096, -842665652],
  [8192, -589168426],
  [16384, 566775070],
  [32768, -1746189567],
  [65536, -1723284301],
  [131072, -1158473585],
  [262144, 1591234519],
  [524288, 1782706973],
  [1048576, 1758801825],
];

/**
 * RAM's hash when all its `pages` are zero: from the largest of `sums` not
 * past them, then term by term (with no sums, the reference the test checks
 * the table against).
 */
export function zeroRamHash(pages: number, sums = ZERO_RAM_SUMS): number {
  let from = 0;
  let h = 0;
  for (const [n, sum] of sums)
    if (n <= pages) {
      from = n;
      h = sum;
    }
  for (let p = from; p < pages; p++) h = (h + pageTerm(p, ZERO_PAGE_HASH)) | 0;
  return h;
}

/** A page's fingerprint in the log: 16 bits of its hash (all 32 go into ramHash). */
const fingerprint = (h: number) => (h ^ (h >>> 16)) & 0xffff;

class Writer extends GrowableBytes {
  u16(v: number): void {
    this.u8(v);
    this.u8(v >>> 8);
  }
  u32(v: number): void {
    this.u16(v & 0xffff);
    this.u16(v >>> 16);
  }
  varint(v: number): void {
    v >>>= 0;
    while (v >= 0x80) {
      this.u8((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.u8(v);
  }
  bytes(): Uint8Array {
    return this.copy();
  }
}

class Reader {
  at = 0;
  constructor(private readonly b: Uint8Array) {}
  private need(n: number): void {
    if (this.at + n > this.b.length) throw new RangeError('digest too short');
  }
  u8(): number {
    this.need(1);
    return this.b[this.at++];
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return this.u16() | (this.u16() << 16) | 0;
  }
  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.u8();
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    throw new RangeError('bad varint');
  }
  get done(): boolean {
    return this.at === this.b.length;
  }
}

export interface Digest {
  flags: number;
  layoutId: number;
  stateHash: number;
  ramHash: number;
  leafCount: number;
  /** Changed leaves: index, lo, hi. */
  leaves: Int32Array;
  /** Written pages: index, fingerprint. */
  pages: Int32Array;
}

export function decodeDigest(d: Uint8Array): Digest | undefined {
  try {
    const r = new Reader(d);
    if (r.u8() !== TAG) return undefined;
    const flags = r.u8();
    const layoutId = r.u32();
    const stateHash = r.u32();
    const ramHash = r.u32();
    const leafCount = r.varint();
    const n = r.varint();
    if (n > leafCount || n > d.length) return undefined;
    const leaves = new Int32Array(3 * n);
    for (let i = 0, idx = -1; i < n; i++) {
      idx += r.varint() + 1;
      if (idx >= leafCount) return undefined;
      leaves[3 * i] = idx;
    }
    for (let i = 0; i < n; i++) {
      leaves[3 * i + 1] = r.varint() | 0;
      const z = r.varint();
      leaves[3 * i + 2] = z % 2 ? -(z + 1) / 2 : z / 2;
    }
    const m = r.varint();
    if (m > d.length) return undefined;
    const pages = new Int32Array(2 * m);
    for (let i = 0, idx = -1; i < m; i++) {
      idx += r.varint() + 1;
      if (idx > 0x7fffffff) return undefined;
      pages[2 * i] = idx;
    }
    for (let i = 0; i < m; i++) pages[2 * i + 1] = r.u16();
    if (!r.done) return undefined;
    return { flags, layoutId, stateHash, ramHash, leafCount, leaves, pages };
  } catch (e) {
    if (e instanceof RangeError) return undefined;
    throw e;
  }
}

/** The part of two digests that must be equal for the machines to be equal. */
export function digestsMatch(recorded: Uint8Array, replayed: Uint8Array): boolean {
  const a = decodeDigest(recorded);
  const b = decodeDigest(replayed);
  return (
    !!a &&
    !!b &&
    a.layoutId === b.layoutId &&
    a.stateHash === b.stateHash &&
    a.ramHash === b.ramHash &&
    a.leafCount === b.leafCount
  );
}

export class StateDigester {
  /** Hash of every RAM page, as of the last digest. */
  readonly pageHash: Int32Array;
  /** Pages written since the last digest. */
  private readonly dirty: Uint8Array;
  /** Hashes the pages written (in WebAssembly SIMD where it can: page-hasher.ts). */
  private readonly hasher: PageHasher;
  /** The hasher's results, one per page written. */
  private readonly hashes: Int32Array;
  /** The hart's and devices' leaves, as of the last digest. */
  leaves: Leaves | undefined;
  /** The leaves of the digest before (their arrays are reused by the next walk). */
  private spare: Leaves | undefined;
  stateHash = 0;
  ramHash: number;
  /** Pages written between the last two digests. */
  written: number[] = [];
  private taken = false;

  constructor(private readonly vm: VirtMachine) {
    // RAM starts zeroed and the bus has flagged every page written since (the loader's too),
    // so only those are hashed at the first digest, not all of RAM.
    this.dirty = vm.bus.addDirtyListener(true);
    this.pageHash = new Int32Array(vm.bus.dirtyPages.length).fill(ZERO_PAGE_HASH);
    this.ramHash = zeroRamHash(this.pageHash.length);
    this.hasher = new PageHasher(vm.bus.ram32, vm.bus.memory);
    this.hashes = new Int32Array(this.pageHash.length);
  }

  /** Bring the hashes up to the machine as it is now; returns the pages written since the last call. */
  private measure(): number[] {
    const vm = this.vm;
    vm.collectDirty();
    const dirty = this.dirty;
    const pageHash = this.pageHash;
    const written: number[] = [];
    for (let p = nextFlagged(dirty, 0); p >= 0; p = nextFlagged(dirty, p + 1)) {
      dirty[p] = 0;
      written.push(p);
    }
    const hashes = this.hashes;
    this.hasher.hashPages(written, written.length, hashes);
    let ramHash = this.ramHash;
    for (let i = 0; i < written.length; i++) {
      const p = written[i];
      const h = hashes[i];
      if (h !== pageHash[p]) {
        ramHash = (ramHash - pageTerm(p, pageHash[p]) + pageTerm(p, h)) | 0;
        pageHash[p] = h;
      }
    }
    this.ramHash = ramHash;
    const leaves = stateLeaves(vm.saveState({ digest: true }), false, this.spare);
    this.spare = this.leaves;
    this.stateHash = hashWords(leaves.values, 0, leaves.values.length, STATE_SEED);
    this.leaves = leaves;
    this.written = written;
    return written;
  }

  /** Digest of the machine as it is now (call at an instruction boundary). */
  take(): Uint8Array {
    const prev = this.leaves;
    const written = this.measure();
    const cur = this.leaves!;
    const fromZero = !prev || prev.values.length !== cur.values.length;
    const w = new Writer();
    w.u8(TAG);
    w.u8((this.taken ? 0 : NO_PAGE_LIST) | (fromZero ? LEAVES_FROM_ZERO : 0));
    w.u32(cur.layoutId);
    w.u32(this.stateHash);
    w.u32(this.ramHash);
    const n = cur.kinds.length;
    w.varint(n);
    const a = cur.values;
    const b = fromZero ? new Int32Array(a.length) : prev.values;
    const changed: number[] = [];
    for (let i = 0; i < n; i++)
      if (a[2 * i] !== b[2 * i] || a[2 * i + 1] !== b[2 * i + 1]) changed.push(i);
    w.varint(changed.length);
    let last = -1;
    for (const i of changed) {
      w.varint(i - last - 1);
      last = i;
    }
    for (const i of changed) {
      w.varint(a[2 * i]);
      const hi = a[2 * i + 1];
      w.varint(hi < 0 ? -2 * hi - 1 : 2 * hi);
    }
    const pages = this.taken ? written : [];
    w.varint(pages.length);
    last = -1;
    for (const p of pages) {
      w.varint(p - last - 1);
      last = p;
    }
    for (const p of pages) w.u16(fingerprint(this.pageHash[p]));
    this.taken = true;
    return w.bytes();
  }

  /** Bring the hashes up to the machine without taking a digest (a reader starting here). */
  sync(): void {
    this.measure();
  }
}

/** Compares a recording's digests, in order, with the replayed machine's. */
export interface DigestVerifier {
  /** undefined when `recorded` matches the machine as it is now; otherwise what differs. */
  check(recorded: Uint8Array): string[] | undefined;
  /**
   * The machine was put here from elsewhere (a snapshot, a checkpoint): take
   * its state as the recording's here, until the next digest says otherwise.
   */
  resync(): void;
  /** Set when the digests could be checked only in part (said once the replay is over). */
  readonly note?: string;
}

/** The verifier for digests of recording format `version`. */
export function digestVerifier(vm: VirtMachine, version: number): DigestVerifier {
  return version === 1 ? new DigestCheckerV1(vm) : new DigestChecker(vm);
}

export class DigestChecker implements DigestVerifier {
  note: string | undefined;
  private readonly digester: StateDigester;
  /** The recording's leaf values (lo, hi), as of the last digest. */
  private leafView: Int32Array | undefined;
  /** The recording's page fingerprints, as of the last digest. */
  private readonly pageView: Uint16Array;
  private pagesKnown = false;

  constructor(private readonly vm: VirtMachine) {
    this.digester = new StateDigester(vm);
    this.pageView = new Uint16Array(this.digester.pageHash.length);
  }

  private viewOwnPages(): void {
    const h = this.digester.pageHash;
    for (let p = 0; p < h.length; p++) this.pageView[p] = fingerprint(h[p]);
    this.pagesKnown = true;
  }

  check(recorded: Uint8Array): string[] | undefined {
    const own = this.digester;
    own.take();
    const d = decodeDigest(recorded);
    if (!d) return ["the recording's digest cannot be read (damaged, or of another layout)"];
    const leaves = own.leaves!;
    const n = leaves.kinds.length;
    // Fields are compared only between machines laid out alike (the same leaves in the same order).
    const sameLayout = d.layoutId === leaves.layoutId && d.leafCount === n;
    if (d.flags & LEAVES_FROM_ZERO || !this.leafView || this.leafView.length !== 2 * n)
      this.leafView = new Int32Array(2 * n);
    const lv = this.leafView;
    if (sameLayout)
      for (let i = 0; i < d.leaves.length; i += 3) {
        const k = d.leaves[i];
        lv[2 * k] = d.leaves[i + 1];
        lv[2 * k + 1] = d.leaves[i + 2];
      }
    if (d.flags & NO_PAGE_LIST || !this.pagesKnown) this.viewOwnPages();
    else
      for (let i = 0; i < d.pages.length; i += 2)
        if (d.pages[i] < this.pageView.length) this.pageView[d.pages[i]] = d.pages[i + 1];
    if (!sameLayout)
      // A vmrs whose parts save other fields made this recording: its RAM can still be checked.
      this.note = LAYOUT_NOTE;
    if (d.ramHash === own.ramHash && (!sameLayout || d.stateHash === own.stateHash)) {
      // Equal: what the recording knew is what this machine holds (views from a resync are exact again).
      if (sameLayout) lv.set(leaves.values);
      for (const p of own.written) this.pageView[p] = fingerprint(own.pageHash[p]);
      return undefined;
    }
    const out: string[] = [];
    if (!sameLayout) out.push(LAYOUT_NOTE);
    else if (d.stateHash !== own.stateHash) out.push(...this.describeFields(d, lv, leaves.values));
    if (d.ramHash !== own.ramHash) {
      const pages: number[] = [];
      const h = own.pageHash;
      for (let p = 0; p < h.length; p++) if (this.pageView[p] !== fingerprint(h[p])) pages.push(p);
      out.push(
        pages.length
          ? describePageDifferences(pages, this.vm.bus.ramBase)
          : d.flags & NO_PAGE_LIST
            ? "RAM differs at the recording's first digest, which names no pages (RAM there is what was loaded)"
            : 'RAM differs, in pages the recording cannot name (their 16-bit fingerprints agree, or they changed between the previous digest and the snapshot or checkpoint this replay started from)',
      );
    }
    return out.length ? out : ['digests differ'];
  }

  /**
   * The fields that differ. `view` is exact when it hashes to the recorded
   * stateHash. After a resync it may not be: a field that changed between
   * the previous digest and the resync point and changed back since is in
   * no digest's list, so `view` holds its value at the resync point. Then
   * the likeliest explanations are tried, and one is kept when the hash says
   * it is right: every such field (outside the digest's list, changed here
   * since the resync) holds what this machine holds, except none, one or two
   * of them that kept their value at the resync point, as the recording
   * says it did since the previous digest. Otherwise those fields are named
   * as unsure.
   */
  private describeFields(d: Digest, view: Int32Array, own: Int32Array): string[] {
    const named = stateLeaves(this.vm.saveState({ digest: true }), true);
    const fits = (v: Int32Array) => hashWords(v, 0, v.length, STATE_SEED) === d.stateHash;
    if (fits(view)) return describeFieldDifferences(named, view, own);
    const listed = new Uint8Array(view.length / 2);
    for (let i = 0; i < d.leaves.length; i += 3) listed[d.leaves[i]] = 1;
    const guess = view.slice();
    const unsure: number[] = [];
    for (let i = 0; i < listed.length; i++)
      if (!listed[i] && (guess[2 * i] !== own[2 * i] || guess[2 * i + 1] !== own[2 * i + 1])) {
        guess[2 * i] = own[2 * i];
        guess[2 * i + 1] = own[2 * i + 1];
        unsure.push(i);
      }
    const keep = (i: number, v: Int32Array) => {
      guess[2 * i] = v[2 * i];
      guess[2 * i + 1] = v[2 * i + 1];
    };
    const tries = unsure.length <= MAX_UNSURE ? unsure.length : 0;
    let found = fits(guess);
    for (let a = 0; a < tries && !found; a++) {
      keep(unsure[a], view);
      found = fits(guess);
      for (let b = a + 1; b < tries && !found; b++) {
        keep(unsure[b], view);
        found = fits(guess);
        if (!found) keep(unsure[b], own);
      }
      if (!found) keep(unsure[a], own);
    }
    const lines = describeFieldDifferences(named, guess, own);
    if (!found)
      lines.push(
        unsure.length
          ? `some of these fields, changed since the snapshot or checkpoint this replay started from, may differ too (the recording lists changes between digests only): ${fieldNames(named, unsure)}`
          : 'other hart or device fields differ, which the recording does not name (they changed between the previous digest and the snapshot or checkpoint this replay started from)',
      );
    return lines;
  }

  resync(): void {
    this.digester.sync();
    this.leafView = this.digester.leaves!.values.slice();
    this.viewOwnPages();
  }
}
