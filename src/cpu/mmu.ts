/**
 * Address translation (Sv39/Sv48, priv spec 4.3-4.4) and the TLBs.
 *
 * Three TLBs (read, write, fetch) hold RAM offsets, in the manner of
 * TinyEMU; MMIO and faults take the slow paths (slow-access.ts). Each is
 * two-way: a slot's second way keeps the entry a fill displaced from its
 * first (see secondWay).
 *
 * The TLBs are a host cache, not architectural state: the guest sees a hart
 * that walks the page table on every access (DESIGN rule 8: no hidden
 * state). Two things keep that true. A walk sets the A (and for writes D)
 * bits before its result is cached, so a cached translation is what a fresh
 * walk would give, with no change to RAM; and every RAM page a walk read PTEs
 * from is flagged (ptPage), kept out of the write TLB, and a write to it —
 * a store, an AMO, DMA, the debugger — flushes the TLBs (a store only when
 * it touches a valid PTE: see writeChangesTranslations). So flushing them at
 * any moment (digests, checkpoints, restores, breakpoints) changes nothing
 * the guest can see.
 */
import type { Cpu } from './cpu.js';
import {
  EXC_INSN_ACCESS,
  EXC_INSN_PAGE,
  EXC_LOAD_ACCESS,
  EXC_LOAD_PAGE,
  EXC_STORE_ACCESS,
  EXC_STORE_PAGE,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SUM,
} from './csr-numbers.js';
import { debugPage } from './debug.js';
import { updateTags } from './trap.js';
import {
  ACC_FETCH,
  ACC_WRITE,
  PRIV_M,
  PRIV_U,
  TAG_SPACE_SHIFT,
  TLB_HI,
  TLB_OFF,
  TWO32,
} from './hart-constants.js';

export const TLB_SIZE = 1024;
export const TLB_MASK = TLB_SIZE - 1;
/** Page-table pages tracked one by one; past this many, a flush clears the whole map. */
export const PT_LIST_SIZE = 4096;

/** Address spaces (satp roots) whose TLB entries are kept apart by a tag instead of flushed. */
export const SPACE_SLOTS = 8;

/**
 * satp changed (or the hart was reset or restored): make its address space
 * the current one. A root seen recently gets its slot back, with whatever
 * entries the TLBs still hold for it; they are still what a walk would give,
 * since any write to a page-table page a cached walk read flushes the TLBs
 * (a freed root page reused for another process is rewritten first). A new
 * root takes the next slot; if that slot held another root, its entries must
 * go, and with them, simply, all the others.
 */
export function selectAddressSpace(h: Cpu): void {
  const key = h.satpMode * 17592186044416 + h.satpPpn; // mode * 2^44 + PPN
  const roots = h.spaceRoots;
  let slot = roots.indexOf(key);
  if (slot < 0) {
    slot = h.spaceNext;
    h.spaceNext = (slot + 1) % SPACE_SLOTS;
    if (roots[slot] !== -1) forgetTranslations(h);
    roots[slot] = key;
  }
  h.spaceTag = slot << TAG_SPACE_SHIFT;
  h.fVpn = -1; // the fetch page cache is not tagged
  updateTags(h);
}

/** Drop every cached translation and every address-space slot with it. */
export function forgetTranslations(h: Cpu): void {
  flushTlb(h);
  h.spaceRoots.fill(-1);
}

/** The access-fault exception for an access type (priv spec table 3.6). */
export function accessFaultCause(access: number): number {
  return access === ACC_FETCH
    ? EXC_INSN_ACCESS
    : access === ACC_WRITE
      ? EXC_STORE_ACCESS
      : EXC_LOAD_ACCESS;
}

/**
 * Forget every cached translation. Any caller may do this at any time: the
 * guest cannot tell (see the file comment). Page-table pages are tracked
 * only for cached translations, so their flags go too.
 */
export function flushTlb(h: Cpu): void {
  for (let a = 0; a < 3; a++) {
    h.tlbTag[a].fill(-1);
    h.tlbTag2[a].fill(-1);
  }
  newWtlbEpoch(h);
  h.fVpn = -1;
  const n = h.ptCount;
  if (n > PT_LIST_SIZE) h.ptPage.fill(0);
  else for (let i = 0; i < n; i++) h.ptPage[h.ptList[i]] = 0;
  h.ptCount = 0;
}

/**
 * Whether a write of `size` bytes at RAM offset `off` (in a page-table
 * page) can change a cached translation: only if it touches a PTE that is
 * valid now. A cached walk read only valid PTEs, and a write to any of them
 * since would have flushed the TLBs; so a PTE that is invalid now backs no
 * cached translation, and filling it (Linux mapping a page at a fault, or
 * a new table into a directory) leaves every cached one what a walk would
 * give (priv spec 4.3.2 step 3: a walk stops at an invalid PTE). On a boot
 * that halved the flushes.
 */
export function writeChangesTranslations(h: Cpu, off: number, size: number): boolean {
  const r8 = h.ram8;
  for (let p = off & ~7; p < off + size; p += 8) if ((r8[p] & 1) !== 0) return true;
  return false;
}

/** The write TLB was emptied: no page is in it any more. */
export function newWtlbEpoch(h: Cpu): void {
  if (++h.wtlbEpoch === 0x7fffffff) {
    h.wtlbGen.fill(0);
    h.wtlbEpoch = 1;
  }
}

/** A walk read PTEs from RAM page `page`: flag it, and keep it out of the write TLB from now on. */
export function markPtPage(h: Cpu, page: number): void {
  h.ptPage[page] = 1;
  if (h.ptCount < PT_LIST_SIZE) h.ptList[h.ptCount] = page;
  if (h.ptCount <= PT_LIST_SIZE) h.ptCount++;
  evictFromWriteTlb(h, page);
}

/**
 * Remove the write-TLB entries, both ways, that point at RAM page `page`
 * (a page table now, or a code page: code-cache.ts), if it entered the
 * write TLB since the last flush.
 */
export function evictFromWriteTlb(h: Cpu, page: number): void {
  if (h.wtlbGen[page] !== h.wtlbEpoch) return;
  evictFrom(h.tlbTag[ACC_WRITE], h.tlbOff[ACC_WRITE], page * 4096);
  evictFrom(h.tlbTag2[ACC_WRITE], h.tlbOff2[ACC_WRITE], page * 4096);
}

function evictFrom(tag: Int32Array, offs: Uint32Array, off: number): void {
  for (let i = 0; i < TLB_SIZE * 4; i += 4)
    if (tag[i] !== -1 && offs[i + TLB_OFF] === off) tag[i] = -1;
}

/**
 * RAM at [paddr, paddr+len) was written by someone other than this hart
 * (DMA, HTIF, the debugger, a loader): a write to the reserved bytes ends
 * the reservation, a write to a page-table page drops cached translations,
 * a write to a code page its translated blocks.
 */
export function externalWrite(h: Cpu, paddr: number, len: number): void {
  if (h.resAddr >= 0 && paddr < h.resAddr + 8 && h.resAddr < paddr + len) h.resAddr = -1;
  const first = Math.max(0, Math.floor((paddr - h.ramBase) / 4096));
  const last = Math.min(h.ptPage.length - 1, Math.floor((paddr + len - 1 - h.ramBase) / 4096));
  let flush = false;
  for (let p = first; p <= last; p++) {
    if (h.ptPage[p] !== 0) flush = true;
    h.code.pageWritten(p);
  }
  if (flush) flushTlb(h);
}

/**
 * Translate a virtual address for an access; returns the physical address or
 * -1 with xlateCause set (priv spec 4.3.2, 4.4). Updates A/D bits in RAM.
 * Observers (the debugger, plugins) walk without side effects: page-walk.ts.
 */
export function translate(h: Cpu, vLo: number, vHi: number, access: number): number {
  let priv = h.priv;
  const ms = h.mstatus;
  if (access !== ACC_FETCH && priv === PRIV_M && (ms & MSTATUS_MPRV) !== 0)
    priv = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
  // What a slot's second way holds is what this walk would give (see the file comment).
  const cached = secondWay(h, vLo, vHi, access);
  if (cached >= 0) return h.ramBase + cached + (vLo & 0xfff);
  if (priv === PRIV_M || h.satpMode === 0) {
    // Bare: physical addresses are 56 bits at most.
    if (vHi >>> 0 >= 0x1000000) {
      h.xlateCause = accessFaultCause(access);
      return -1;
    }
    return (vHi >>> 0) * TWO32 + (vLo >>> 0);
  }
  const pageFault =
    access === ACC_FETCH ? EXC_INSN_PAGE : access === ACC_WRITE ? EXC_STORE_PAGE : EXC_LOAD_PAGE;
  const levels = h.satpMode === 9 ? 4 : 3;
  // Canonical check: bits above the VA width equal its top bit.
  const top = levels === 4 ? vHi >> 15 : vHi >> 6;
  if (top !== 0 && top !== -1) {
    h.xlateCause = pageFault;
    return -1;
  }
  let a = h.satpPpn * 4096;
  const ram32 = h.ram32;
  for (let level = levels - 1; level >= 0; level--) {
    // VPN[level]: 9 bits starting at bit 12 + 9*level.
    const shift = 12 + 9 * level;
    let vpn: number;
    if (shift + 9 <= 32) vpn = (vLo >>> shift) & 0x1ff;
    else if (shift >= 32) vpn = (vHi >>> (shift - 32)) & 0x1ff;
    else vpn = ((vLo >>> shift) | (vHi << (32 - shift))) & 0x1ff;
    const pteAddr = a + vpn * 8;
    if (!(pteAddr >= h.ramBase && pteAddr + 8 <= h.ramBase + h.ramSize)) {
      h.xlateCause = accessFaultCause(access);
      return -1;
    }
    const pi = (pteAddr - h.ramBase) >>> 2;
    if (h.ptPage[pi >>> 10] === 0) markPtPage(h, pi >>> 10);
    let pteLo = ram32[pi];
    const pteHi = ram32[pi + 1];
    if ((pteLo & 1) === 0 || (pteLo & 6) === 4 || (pteHi & 0xffc00000) !== 0) {
      // invalid, W without R, or reserved/Svpbmt/Svnapot bits set
      h.xlateCause = pageFault;
      return -1;
    }
    const ppn = (pteHi & 0x3fffff) * 4194304 + (pteLo >>> 10); // PTE bits 53:10
    if ((pteLo & 0xe) === 0) {
      // pointer to the next level
      if (level === 0) break;
      a = ppn * 4096;
      continue;
    }
    // Leaf: permission checks
    const u = (pteLo & 0x10) !== 0;
    if (priv === PRIV_U) {
      if (!u) break;
    } else if (u && (access === ACC_FETCH || (ms & MSTATUS_SUM) === 0)) break;
    if (access === ACC_FETCH) {
      if ((pteLo & 8) === 0) break;
    } else if (access === ACC_WRITE) {
      if ((pteLo & 4) === 0) break;
    } else if ((pteLo & 2) === 0 && !((ms & MSTATUS_MXR) !== 0 && (pteLo & 8) !== 0)) break;
    // Superpage alignment: low PPN bits must be zero.
    const lowPages = level === 0 ? 1 : Math.pow(512, level);
    if (ppn % lowPages !== 0) break;
    // A and D bits (updated by hardware, priv spec 4.3.1)
    const need = access === ACC_WRITE ? 0xc0 : 0x40;
    if ((pteLo & need) !== need) {
      pteLo |= need;
      ram32[pi] = pteLo;
      h.dirtyPages[pi >>> 10] = 1;
      h.code.pageWritten(pi >>> 10);
    }
    // Physical address: PPN with the low levels taken from the VA.
    const pageInSuper = level === 0 ? 0 : ((vLo >>> 12) | (vHi << 20)) & (lowPages - 1);
    return (ppn + pageInSuper) * 4096 + (vLo & 0xfff);
  }
  h.xlateCause = pageFault;
  return -1;
}

/**
 * Insert a RAM page into TLB `access`, when the page is RAM and may be
 * cached there (not for stores to watched, page-table or code pages, nor
 * on pages with breakpoints or watchpoints); whether it did.
 */
export function tlbInsert(
  h: Cpu,
  access: number,
  vLo: number,
  vHi: number,
  paddr: number,
): boolean {
  const page = paddr - (paddr % 4096);
  if (page < h.ramBase || page + 4096 > h.ramBase + h.ramSize) return false;
  // A write is coming (every slow store passes here; AMOs and SC see atomicWrote): blocks compiled from
  // this page are stale from now on.
  if (access === ACC_WRITE) h.code.pageWritten((page - h.ramBase) / 4096);
  // Stores to the watched page take the slow path, which stops the slice after them.
  if (access === ACC_WRITE && page - h.ramBase === h.watchPage) return false;
  // Stores to page-table pages take the slow path, which drops the translations built on them.
  if (access === ACC_WRITE && h.ptPage[(page - h.ramBase) / 4096] !== 0) return false;
  if (h.bpCount + h.wpCount !== 0 && debugPage(h, vLo, vHi, access === ACC_FETCH)) return false;
  const i = slotOf(h, vLo, access);
  const tag = h.tlbTag[access],
    offs = h.tlbOff[access];
  const want = tagOf(h, vLo, access);
  if (tag[i] !== -1 && (tag[i] !== want || tag[i + TLB_HI] !== vHi)) {
    // The entry it displaces goes to the slot's second way (secondWay).
    const tag2 = h.tlbTag2[access];
    tag2[i] = tag[i];
    tag2[i + TLB_HI] = tag[i + TLB_HI];
    h.tlbOff2[access][i + TLB_OFF] = offs[i + TLB_OFF];
  }
  tag[i] = want;
  tag[i + TLB_HI] = vHi;
  offs[i + TLB_OFF] = page - h.ramBase;
  // Pages enter the write TLB before the fast path writes them: note them for state digests.
  if (access === ACC_WRITE) {
    h.dirtyPages[(page - h.ramBase) >>> 12] = 1;
    h.wtlbGen[(page - h.ramBase) >>> 12] = h.wtlbEpoch;
  }
  return true;
}

/**
 * The RAM offset of the page at vHi:vLo if the second way of its slot in
 * TLB `access` holds it, else -1; a hit swaps the slot's two ways, so the
 * fast paths, which look only in the first, find it next time.
 *
 * The second way keeps the entry a fill displaced from the first (tlbInsert),
 * like QEMU's victim TLB: two pages whose slots coincide — a table and the
 * data it indexes, 4 MiB apart — then stay cached together instead of
 * evicting each other at every access. Which pages those are depends on
 * where the guest's allocator put them (Linux randomizes it): gzip's
 * inner loop met such a pair in about one run in eight, and went through
 * the interpreter and a walk at every turn. Blocks compiled from a page
 * where such stops keep coming look in both ways themselves (code-cache.ts
 * secondWayHit, block-writer.ts access). An entry in the second way is
 * one the first held, kept true by the same rules: every flush and
 * eviction covers both.
 */
export function secondWay(h: Cpu, vLo: number, vHi: number, access: number): number {
  const i = slotOf(h, vLo, access);
  const tag2 = h.tlbTag2[access];
  const want = tagOf(h, vLo, access);
  if (tag2[i] !== want || tag2[i + TLB_HI] !== vHi) return -1;
  h.secondWayHits++;
  const tag = h.tlbTag[access],
    offs = h.tlbOff[access],
    offs2 = h.tlbOff2[access];
  const off = offs2[i + TLB_OFF];
  tag2[i] = tag[i];
  tag2[i + TLB_HI] = tag[i + TLB_HI];
  offs2[i + TLB_OFF] = offs[i + TLB_OFF];
  tag[i] = want;
  tag[i + TLB_HI] = vHi;
  offs[i + TLB_OFF] = off;
  return off;
}

/** The word index of the TLB record for the page of `vLo` (its slot: the VPN XOR the tag's salt). */
function slotOf(h: Cpu, vLo: number, access: number): number {
  const salt = access === ACC_FETCH ? h.fetchSalt : h.dataSalt;
  return (((vLo >>> 12) ^ salt) & TLB_MASK) << 2;
}

/** The tag's low word of an entry for the page of `vLo` under the current tag bits. */
function tagOf(h: Cpu, vLo: number, access: number): number {
  return (vLo & ~0xfff) | (access === ACC_FETCH ? h.fetchTag : h.dataTag);
}

/** Forget write translations, so the next write to each page marks it dirty again. */
export function flushWriteTlb(h: Cpu): void {
  h.tlbTag[ACC_WRITE].fill(-1);
  h.tlbTag2[ACC_WRITE].fill(-1);
  newWtlbEpoch(h);
}
