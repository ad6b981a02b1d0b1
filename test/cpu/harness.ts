/** Shared set-up for CPU unit tests: a program at RAM_BASE, trap vectors that spin. */
import {
  makeBareMachine,
  writeWords,
  RAM_BASE,
  type BareMachine,
} from '../helpers/bare-machine.js';
import { CSR } from '../../src/cpu/csr-numbers.js';
import { SPIN } from './asm.js';
import { setPriv } from '../../src/cpu/trap.js';

export const CODE = RAM_BASE;
/** mtvec: a jal-to-self, so a trap to M ends up spinning here. */
export const MTRAP = RAM_BASE + 0x800;
export const STRAP = RAM_BASE + 0x900;
export const DATA = RAM_BASE + 0x10000;

export function machineWith(words: readonly number[], ramSize = 4 << 20): BareMachine {
  const m = makeBareMachine(ramSize);
  writeWords(m, CODE, words);
  writeWords(m, MTRAP, [SPIN]);
  writeWords(m, STRAP, [SPIN]);
  m.cpu.csrWrite(CSR.mtvec, MTRAP | 0, 0);
  m.cpu.csrWrite(CSR.stvec, STRAP | 0, 0);
  return m;
}

/** Drop to a privilege level at a given PC, as if an xRET had done it. */
export function enter(m: BareMachine, priv: number, pc = CODE): void {
  // As an xRET does: the TLBs' tags carry the privilege (translated code checks it there).
  setPriv(m.cpu, priv);
  m.cpu.flushTlb();
  m.cpu.setPc(pc | 0, 0);
}

/** A CSR's value as an unsigned BigInt (undefined = absent). */
export function csr(m: BareMachine, num: number): bigint | undefined {
  const v = m.cpu.readCsr(num);
  return v === undefined ? undefined : (BigInt(v.hi >>> 0) << 32n) | BigInt(v.lo >>> 0);
}

export function pc(m: BareMachine): number {
  return m.cpu.pcHi * 2 ** 32 + (m.cpu.pcLo >>> 0);
}

export function setX(m: BareMachine, i: number, v: bigint): void {
  m.cpu.regs[i << 1] = Number(BigInt.asIntN(32, v));
  m.cpu.regs[(i << 1) | 1] = Number(BigInt.asIntN(32, v >> 32n));
}

/** Run until `n` instructions retired or the run stops; returns retired count. */
export function step(m: BareMachine, n: number): number {
  let done = 0;
  for (let k = 0; k < 100 && done < n; k++) {
    const r = m.cpu.run(n - done);
    done += r;
    m.bus.mmioWritten = false;
    if (r === 0) break;
  }
  return done;
}

export const INTERRUPT = 1n << 63n;
