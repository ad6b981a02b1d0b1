/**
 * State digests as recording format version 1 laid them out, kept so that
 * version-1 recordings replay with their digests checked: the hart (every
 * integer register, pc and privilege; hashes of the FP registers, of the
 * hart's saved fields and of virtual time; 17 named CSRs), one hash per
 * 16 MiB region of RAM and the 1 MiB blocks changed since the previous
 * digest. No device state: that came with version 2 (state-digest.ts).
 */
import type { VirtMachine } from '../machine/virt.js';
import { CSR } from '../cpu/csr-numbers.js';
import { ZERO_PAGE_HASH, hashPage, hashWords, mix } from './hash32.js';
import type { State } from '../snapshot/state.js';
import { hex64 } from './hex.js';

const REGION_PAGES = 4096; // 16 MiB

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

/**
 * The hart's saved fields that version 1 hashed, in its order: frozen here,
 * so a field the hart gains later does not change version-1 digests.
 */
const V1_CPU_FIELDS = [
  'xl',
  'xh',
  'pcLo',
  'pcHi',
  'priv',
  'icount',
  'wfi',
  'mstatus',
  'mip',
  'mie',
  'medeleg',
  'mideleg',
  'mcounteren',
  'scounteren',
  'mcountinhibit',
  'csrLo',
  'csrHi',
  'cycleOffset',
  'instretOffset',
  'resAddr',
  'satpMode',
  'satpPpn',
] as const;

function cpuWords(saved: State): Int32Array {
  const words: number[] = [];
  for (const k of V1_CPU_FIELDS) {
    const v = saved[k];
    if (ArrayBuffer.isView(v)) {
      const a = v as Int32Array;
      for (let i = 0; i < a.length; i++) words.push(a[i]);
    } else if (typeof v === 'boolean') words.push(v ? 1 : 0);
    else {
      const n = typeof v === 'number' ? v : 0;
      words.push(n | 0, Math.floor(n / 4294967296) | 0);
    }
  }
  return Int32Array.from(words);
}

const BLOCK_PAGES = 256; // 1 MiB
const CORE_WORDS = 71; // pc, priv, region count, x0..x31, fp, csr and time hashes

/**
 * A version-1 digest, as Int32 words:
 *   pcLo pcHi priv nRegions x0lo x0hi .. x31hi fpHash csrHash timeHash
 *   region[nRegions] (16 MiB each) csr[NAMED_CSRS] (lo, hi)
 *   nBlocks (index, hash)[nBlocks] — the 1 MiB blocks whose pages were written
 *   since the previous digest, so a reader that follows the digests in order
 *   knows every block's hash and can say which MiB of RAM differs.
 * Two digests of the same machine state agree on everything before nBlocks.
 */
interface DigestFieldsV1 {
  pcLo: number;
  pcHi: number;
  priv: number;
  x: Int32Array;
  fpHash: number;
  csrHash: number;
  timeHash: number;
  regions: Int32Array;
  csrs: Int32Array;
  coreBytes: number;
  blocks: Int32Array;
}

export class StateDigesterV1 {
  private readonly pageHash: Int32Array;
  /** Hash of each 1 MiB block of RAM, as of the last digest. */
  readonly blockHash: Int32Array;
  /** Pages written since the last digest. */
  private readonly dirty: Uint8Array;

  constructor(private readonly vm: VirtMachine) {
    this.dirty = vm.bus.addDirtyListener(true);
    this.pageHash = new Int32Array(vm.bus.dirtyPages.length).fill(ZERO_PAGE_HASH);
    this.blockHash = new Int32Array(Math.ceil(vm.bus.dirtyPages.length / BLOCK_PAGES));
  }

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
    const st = cpuWords(cpu.saveState());
    const csrAt = CORE_WORDS + regions.length;
    const blocksAt = csrAt + 2 * NAMED_CSRS.length;
    const out = new Int32Array(blocksAt + 1 + changed.length);
    out[0] = cpu.pcLo;
    out[1] = cpu.pcHi;
    out[2] = cpu.priv;
    out[3] = regions.length;
    for (let i = 0; i < 32; i++) {
      out[4 + 2 * i] = cpu.regs[i << 1];
      out[5 + 2 * i] = cpu.regs[(i << 1) | 1];
    }
    out[68] = hashWords(cpu.fpu.fr, 0, 64, mix(cpu.fpu.fflags, cpu.fpu.frm));
    out[69] = hashWords(st, 0, st.length, 7);
    out[70] = mix(
      mix(vm.clock.idleTicks | 0, Math.floor(vm.clock.idleTicks / 2 ** 32)),
      vm.now() | 0,
    );
    out.set(regions, CORE_WORDS);
    NAMED_CSRS.forEach((name, i) => {
      // readCsr only reads (it borrows M-mode for the look and gives the privilege back).
      const v = cpu.readCsr(CSR[name]);
      out[csrAt + 2 * i] = v?.lo ?? 0;
      out[csrAt + 2 * i + 1] = v?.hi ?? 0;
    });
    out[blocksAt] = changed.length / 2;
    out.set(changed, blocksAt + 1);
    return new Uint8Array(out.buffer);
  }
}

function decodeDigestV1(d: Uint8Array): DigestFieldsV1 | undefined {
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

function digestsMatchV1(recorded: Uint8Array, replayed: Uint8Array): boolean {
  const a = decodeDigestV1(recorded);
  const b = decodeDigestV1(replayed);
  if (!a || !b || a.coreBytes !== b.coreBytes) return false;
  for (let i = 0; i < a.coreBytes; i++) if (recorded[i] !== replayed[i]) return false;
  return true;
}

const hex = (n: number) => '0x' + n.toString(16);

function describeDifferenceV1(
  recorded: Uint8Array,
  replayed: Uint8Array,
  ramBase: number,
  recordedBlocks: Int32Array,
  replayedBlocks: Int32Array,
): string[] {
  const a = decodeDigestV1(recorded);
  const b = decodeDigestV1(replayed);
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
    const first = (r * REGION_PAGES) / BLOCK_PAGES;
    const last = Math.min(recordedBlocks.length, ((r + 1) * REGION_PAGES) / BLOCK_PAGES);
    for (let k = first; k < last; k++)
      if (recordedBlocks[k] !== replayedBlocks[k]) {
        const blo = ramBase + k * blockBytes;
        inRegion.push(`${hex(blo)}..${hex(blo + blockBytes - 1)}`);
      }
    out.push(
      inRegion.length
        ? `RAM differs in ${inRegion.length > 6 ? inRegion.slice(0, 6).join(', ') + ` and ${inRegion.length - 6} more MiB` : inRegion.join(', ')}`
        : `RAM differs in ${hex(lo)}..${hex(lo + REGION_PAGES * 4096 - 1)}`,
    );
  }
  return out.length ? out : ['digests differ'];
}

/**
 * Checks a version-1 recording's digests, in order, against the replayed
 * machine, keeping the recording's view of RAM block by block.
 */
export class DigestCheckerV1 {
  private readonly digester: StateDigesterV1;
  private readonly recordedBlocks: Int32Array;

  constructor(private readonly vm: VirtMachine) {
    this.digester = new StateDigesterV1(vm);
    this.recordedBlocks = new Int32Array(this.digester.blockHash.length);
  }

  check(recorded: Uint8Array): string[] | undefined {
    const now = this.digester.take();
    const d = decodeDigestV1(recorded);
    if (d)
      for (let i = 0; i + 1 < d.blocks.length; i += 2)
        if (d.blocks[i] >= 0 && d.blocks[i] < this.recordedBlocks.length)
          this.recordedBlocks[d.blocks[i]] = d.blocks[i + 1];
    if (digestsMatchV1(recorded, now)) return undefined;
    return describeDifferenceV1(
      recorded,
      now,
      this.vm.bus.ramBase,
      this.recordedBlocks,
      this.digester.blockHash,
    );
  }

  /** The machine was put here from elsewhere (a snapshot, a checkpoint): take its RAM as the recording's. */
  resync(): void {
    this.digester.take();
    this.recordedBlocks.set(this.digester.blockHash);
  }
}
