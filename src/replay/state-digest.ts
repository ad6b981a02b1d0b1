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
}

export class StateDigester {
  private readonly pageHash: Int32Array;

  constructor(private readonly vm: VirtMachine) {
    this.pageHash = new Int32Array(vm.bus.dirtyPages.length);
  }

  /** Digest of the machine as it is now (call at an instruction boundary). */
  take(): Uint8Array {
    const vm = this.vm;
    const bus = vm.bus;
    const dirty = bus.dirtyPages;
    const ram32 = bus.ram32;
    for (let p = 0; p < dirty.length; p++) {
      if (!dirty[p]) continue;
      this.pageHash[p] = hashWords(ram32, p * 1024, p * 1024 + 1024, 0x2545f491 ^ p);
      dirty[p] = 0;
    }
    vm.cpu.flushWriteTlb();
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
    const out = new Int32Array(4 + 64 + 3 + regions.length);
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
    out.set(regions, 71);
    return new Uint8Array(out.buffer);
  }
}

export function decodeDigest(d: Uint8Array): DigestFields | undefined {
  if (d.length < 71 * 4 || d.length % 4) return undefined;
  const w = new Int32Array(d.slice().buffer);
  if (w[3] !== w.length - 71) return undefined;
  return {
    pcLo: w[0],
    pcHi: w[1],
    priv: w[2],
    x: w.slice(4, 68),
    fpHash: w[68],
    csrHash: w[69],
    timeHash: w[70],
    regions: w.slice(71),
  };
}

const hex64 = (lo: number, hi: number) =>
  '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');

/** What differs between a recorded and a replayed digest, in words a person can act on. */
export function describeDigestDifference(
  recorded: Uint8Array,
  replayed: Uint8Array,
  ramBase: number,
): string[] {
  const a = decodeDigest(recorded);
  const b = decodeDigest(replayed);
  if (!a || !b) return ['digest format differs'];
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
  if (a.csrHash !== b.csrHash) out.push('CSRs differ');
  if (a.timeHash !== b.timeHash) out.push('virtual time differs');
  for (let r = 0; r < Math.min(a.regions.length, b.regions.length); r++)
    if (a.regions[r] !== b.regions[r]) {
      const lo = ramBase + r * REGION_PAGES * 4096;
      out.push(
        `RAM differs in 0x${lo.toString(16)}..0x${(lo + REGION_PAGES * 4096 - 1).toString(16)}`,
      );
    }
  return out.length ? out : ['digests differ'];
}
