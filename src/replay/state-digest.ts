/**
 * State digests (DESIGN rule 6): a compact fingerprint of the machine taken
 * at fixed icounts while recording and compared while replaying.
 *
 * RAM is hashed page by page; only pages written since the last digest are
 * rehashed (Bus.dirtyPages, fed by the CPU's write-TLB fills and by DMA),
 * so a digest costs little however large RAM is. The digest keeps enough
 * detail to say what differs: every integer register and the pc, hashes of
 * the FP registers and CSRs, and one hash per 16 MiB region of RAM.
 */
import type { VirtMachine } from '../machine/virt.js';
import { CSR } from '../cpu/csr-numbers.js';

const REGION_PAGES = 4096; // 16 MiB

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  return (h ^ (h >>> 15)) | 0;
}

function hashWords(words: Int32Array, from: number, to: number, seed: number): number {
  let h = seed;
  for (let i = from; i < to; i++) h = mix(h, words[i]);
  return h;
}

/**
 * Hash of one 4 KiB page: four independent lanes over interleaved words (the
 * multiplies of one lane don't wait for another's), folded at the end. About
 * three times the speed of one chain; digests hash every page written since
 * the last one, so this is most of their cost.
 */
function hashPage(words: Int32Array, page: number): number {
  // The page's place enters where page hashes are combined (in order), not here:
  // equal contents hash equal, so pages never written share ZERO_PAGE_HASH.
  let a = 0x2545f491;
  let b = 0x9e3779b9 | 0;
  let c = 0x85ebca6b | 0;
  let d = 0xc2b2ae35 | 0;
  const end = page * 1024 + 1024;
  for (let i = page * 1024; i < end; i += 4) {
    a = Math.imul(a ^ words[i], 0x5bd1e995);
    b = Math.imul(b ^ words[i + 1], 0x5bd1e995);
    c = Math.imul(c ^ words[i + 2], 0x5bd1e995);
    d = Math.imul(d ^ words[i + 3], 0x5bd1e995);
    a ^= a >>> 15;
    b ^= b >>> 15;
    c ^= c >>> 15;
    d ^= d >>> 15;
  }
  return mix(mix(mix(a, b), c), d);
}

const ZERO_PAGE_HASH = hashPage(new Int32Array(1024), 0);

/** CSRs named in a digest, so a mismatch says which one differs. */
const NAMED_CSRS = [
  'mstatus',
  'mepc',
  'mcause',
  'mtval',
  'mtvec',
  'mie',
  'mip',
  'medeleg',
  'mideleg',
  'mscratch',
  'sepc',
  'scause',
  'stval',
  'stvec',
  'sscratch',
  'satp',
  'stimecmp',
] as const;

const BLOCK_PAGES = 256; // 1 MiB
const CORE_WORDS = 71; // pc, priv, region count, x0..x31, fp, csr and time hashes

/**
 * A digest, as Int32 words:
 *   pcLo pcHi priv nRegions x0lo x0hi .. x31hi fpHash csrHash timeHash
 *   region[nRegions] (16 MiB each) csr[NAMED_CSRS] (lo, hi)
 *   nBlocks (index, hash)[nBlocks] — the 1 MiB blocks whose pages were written
 *   since the previous digest, so a reader that follows the digests in order
 *   knows every block's hash and can say which MiB of RAM differs.
 * Two digests of the same machine state agree on everything before nBlocks.
 */
export interface DigestFields {
  pcLo: number;
  pcHi: number;
  priv: number;
  /** x0..x31 as (lo, hi) pairs. */
  x: Int32Array;
  fpHash: number;
  csrHash: number;
  timeHash: number;
  regions: Int32Array;
  /** NAMED_CSRS values as (lo, hi) pairs. */
  csrs: Int32Array;
  /** Bytes of the digest that must match (everything before the block list). */
  coreBytes: number;
  /** Changed blocks: index, hash pairs. */
  blocks: Int32Array;
}

export class StateDigester {
  private readonly pageHash: Int32Array;
  /** Hash of each 1 MiB block of RAM, as of the last digest. */
  readonly blockHash: Int32Array;

  /** Pages written since the last digest. */
  private readonly dirty: Uint8Array;

  constructor(private readonly vm: VirtMachine) {
    // RAM starts zeroed and the bus has flagged every page written since (the loader's too),
    // so only those are hashed at the first digest, not all of RAM.
    this.dirty = vm.bus.addDirtyListener(true);
    this.pageHash = new Int32Array(vm.bus.dirtyPages.length).fill(ZERO_PAGE_HASH);
    this.blockHash = new Int32Array(Math.ceil(vm.bus.dirtyPages.length / BLOCK_PAGES));
  }

  /** Digest of the machine as it is now (call at an instruction boundary). */
  take(): Uint8Array {
    const vm = this.vm;
    const bus = vm.bus;
    vm.collectDirty();
    const dirty = this.dirty;
    const ram32 = bus.ram32;
    const changed: number[] = [];
    for (let b = 0; b < this.blockHash.length; b++) {
      const from = b * BLOCK_PAGES;
      const to = Math.min(dirty.length, from + BLOCK_PAGES);
      let any = false;
      for (let p = from; p < to; p++) {
        if (!dirty[p]) continue;
        this.pageHash[p] = hashPage(ram32, p);
        dirty[p] = 0;
        any = true;
      }
      if (!any) continue;
      const h = hashWords(this.pageHash, from, to, b);
      if (h !== this.blockHash[b]) {
        this.blockHash[b] = h;
        changed.push(b, h);
      }
    }
    const regions = new Int32Array(Math.ceil(dirty.length / REGION_PAGES));
    for (let r = 0; r < regions.length; r++)
      regions[r] = hashWords(
        this.pageHash,
        r * REGION_PAGES,
        Math.min(dirty.length, (r + 1) * REGION_PAGES),
        r,
      );
    const cpu = vm.cpu;
    const st = cpu.digestWords();
    const csrAt = CORE_WORDS + regions.length;
    const blocksAt = csrAt + 2 * NAMED_CSRS.length;
    const out = new Int32Array(blocksAt + 1 + changed.length);
    out[0] = cpu.pcLo;
    out[1] = cpu.pcHi;
    out[2] = cpu.priv;
    out[3] = regions.length;
    for (let i = 0; i < 32; i++) {
      out[4 + 2 * i] = cpu.xl[i];
      out[5 + 2 * i] = cpu.xh[i];
    }
    out[68] = hashWords(cpu.fpu.fr, 0, 64, mix(cpu.fpu.fflags, cpu.fpu.frm));
    out[69] = hashWords(st, 0, st.length, 7);
    out[70] = mix(
      mix(vm.clock.idleTicks | 0, Math.floor(vm.clock.idleTicks / 2 ** 32)),
      vm.now() | 0,
    );
    out.set(regions, CORE_WORDS);
    NAMED_CSRS.forEach((name, i) => {
      const v = cpu.readCsr(CSR[name]);
      out[csrAt + 2 * i] = v?.lo ?? 0;
      out[csrAt + 2 * i + 1] = v?.hi ?? 0;
    });
    out[blocksAt] = changed.length / 2;
    out.set(changed, blocksAt + 1);
    return new Uint8Array(out.buffer);
  }
}

export function decodeDigest(d: Uint8Array): DigestFields | undefined {
  if (d.length < CORE_WORDS * 4 || d.length % 4) return undefined;
  const w = new Int32Array(d.slice().buffer);
  const nRegions = w[3];
  const csrAt = CORE_WORDS + nRegions;
  const blocksAt = csrAt + 2 * NAMED_CSRS.length;
  if (nRegions < 0 || blocksAt >= w.length || w.length !== blocksAt + 1 + 2 * w[blocksAt])
    return undefined;
  return {
    pcLo: w[0],
    pcHi: w[1],
    priv: w[2],
    x: w.slice(4, 68),
    fpHash: w[68],
    csrHash: w[69],
    timeHash: w[70],
    regions: w.slice(CORE_WORDS, csrAt),
    csrs: w.slice(csrAt, blocksAt),
    coreBytes: blocksAt * 4,
    blocks: w.slice(blocksAt + 1),
  };
}

/** The part of two digests that must be equal for the machines to be equal. */
export function digestsMatch(recorded: Uint8Array, replayed: Uint8Array): boolean {
  const a = decodeDigest(recorded);
  const b = decodeDigest(replayed);
  if (!a || !b || a.coreBytes !== b.coreBytes) return false;
  for (let i = 0; i < a.coreBytes; i++) if (recorded[i] !== replayed[i]) return false;
  return true;
}

/**
 * The recording's view of RAM, block by block, kept up to date from the
 * recorded digests in order (each lists the blocks that changed).
 */
export class RecordedBlocks {
  readonly hash: Int32Array;
  constructor(blocks: number) {
    this.hash = new Int32Array(blocks);
  }
  apply(recorded: Uint8Array): void {
    const d = decodeDigest(recorded);
    if (!d) return;
    for (let i = 0; i + 1 < d.blocks.length; i += 2)
      if (d.blocks[i] >= 0 && d.blocks[i] < this.hash.length)
        this.hash[d.blocks[i]] = d.blocks[i + 1];
  }
}

/** A 64-bit value held as (lo, hi) words, as 0x and 16 hex digits. */
export const hex64 = (lo: number, hi: number): string =>
  '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
const hex = (n: number) => '0x' + n.toString(16);

/** What differs between a recorded and a replayed digest, in words a person can act on. */
export function describeDigestDifference(
  recorded: Uint8Array,
  replayed: Uint8Array,
  ramBase: number,
  recordedBlocks?: Int32Array,
  replayedBlocks?: Int32Array,
): string[] {
  const a = decodeDigest(recorded);
  const b = decodeDigest(replayed);
  if (!a || !b || a.regions.length !== b.regions.length) return ['digest format differs'];
  const out: string[] = [];
  if (a.pcLo !== b.pcLo || a.pcHi !== b.pcHi)
    out.push(`pc: recorded ${hex64(a.pcLo, a.pcHi)}, replayed ${hex64(b.pcLo, b.pcHi)}`);
  if (a.priv !== b.priv) out.push(`privilege: recorded ${a.priv}, replayed ${b.priv}`);
  for (let i = 0; i < 32; i++)
    if (a.x[2 * i] !== b.x[2 * i] || a.x[2 * i + 1] !== b.x[2 * i + 1])
      out.push(
        `x${i}: recorded ${hex64(a.x[2 * i], a.x[2 * i + 1])}, replayed ${hex64(b.x[2 * i], b.x[2 * i + 1])}`,
      );
  if (a.fpHash !== b.fpHash) out.push('floating-point registers or fcsr differ');
  let namedCsrDiffers = false;
  NAMED_CSRS.forEach((name, i) => {
    const [alo, ahi, blo, bhi] = [
      a.csrs[2 * i],
      a.csrs[2 * i + 1],
      b.csrs[2 * i],
      b.csrs[2 * i + 1],
    ];
    if (alo !== blo || ahi !== bhi) {
      namedCsrDiffers = true;
      out.push(`${name}: recorded ${hex64(alo, ahi)}, replayed ${hex64(blo, bhi)}`);
    }
  });
  if (a.csrHash !== b.csrHash && !namedCsrDiffers) out.push('other CSRs or hart state differ');
  if (a.timeHash !== b.timeHash) out.push('virtual time differs');
  const blockBytes = BLOCK_PAGES * 4096;
  for (let r = 0; r < a.regions.length; r++) {
    if (a.regions[r] === b.regions[r]) continue;
    const lo = ramBase + r * REGION_PAGES * 4096;
    const inRegion: string[] = [];
    if (recordedBlocks && replayedBlocks) {
      const first = (r * REGION_PAGES) / BLOCK_PAGES;
      const last = Math.min(recordedBlocks.length, ((r + 1) * REGION_PAGES) / BLOCK_PAGES);
      for (let k = first; k < last; k++)
        if (recordedBlocks[k] !== replayedBlocks[k]) {
          const blo = ramBase + k * blockBytes;
          inRegion.push(`${hex(blo)}..${hex(blo + blockBytes - 1)}`);
        }
    }
    out.push(
      inRegion.length
        ? `RAM differs in ${inRegion.length > 6 ? inRegion.slice(0, 6).join(', ') + ` and ${inRegion.length - 6} more MiB` : inRegion.join(', ')}`
        : `RAM differs in ${hex(lo)}..${hex(lo + REGION_PAGES * 4096 - 1)}`,
    );
  }
  return out.length ? out : ['digests differ'];
}
