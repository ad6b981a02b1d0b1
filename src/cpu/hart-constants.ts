/** Constants shared by the modules of the hart (src/cpu). */

/** Privilege levels (priv spec 1.2). */
export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

/** Access types; each has its own TLB, indexed by this number. */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_FETCH = 2;

export const TWO32 = 4294967296;

/** Not a RISC-V cause: a watchpoint stopped the hart before an access (see Cpu.watchStopsBefore). */
export const EXC_WATCH_STOP = 0x40;

/**
 * A TLB entry's tag is the page's address with, in the bits of the page
 * offset, what else the walk depended on: the privilege (bits 3-4), for
 * data mstatus.SUM and MXR (bits 5, 6), and the address space's slot (bits
 * 7-9). So a trap, an xRET, an mstatus or a satp write selects other
 * entries instead of flushing, and a lookup compares the address and the
 * tag bits at once (one i64 in translated code).
 *
 * Bits 0-2 stay clear in every entry: a lookup keeps the address's low bits
 * that an access of its size must have clear (`alignMask`), so a misaligned
 * address misses too, and the one compare checks the page, the tag bits and
 * the alignment (as QEMU's softmmu TLB compare does).
 */
export const TAG_PRIV_SHIFT = 3;
export const TAG_SUM = 1 << 5;
export const TAG_MXR = 1 << 6;
export const TAG_SPACE_SHIFT = 7;

/**
 * What a lookup keeps of an address's low word to compare with a tag for an
 * access of `size` bytes (1, 2, 4, 8): the page, and the bits a misaligned
 * address has set.
 */
export function alignMask(size: number): number {
  return ~0xfff | (size - 1);
}

/** Words of a TLB record (hart-memory.ts) after the tag's low word, at index * 4 + these. */
export const TLB_HI = 1;
export const TLB_OFF = 2;

/**
 * A page's TLB slot is (VPN XOR salt) mod the TLB's size (mmu.ts), the salt
 * taken from the tag bits: two processes taking turns (through a pipe, say),
 * or the kernel with SUM on and off, then keep their entries for the same
 * pages in different slots instead of evicting each other, and consecutive
 * pages stay in consecutive slots.
 */
export function tlbSalt(tag: number): number {
  return (tag >>> TAG_PRIV_SHIFT) * TLB_SALT_MUL;
}
/** Odd, so the 128 tags' salts differ modulo the TLB's size; large, so near ones do not overlap. */
export const TLB_SALT_MUL = 73;
/**
 * The salt times a TLB record's 16 bytes, from the tag itself (translated
 * code and the block loop compute a record's offset so): exact, as every tag
 * is a multiple of 1 << TAG_PRIV_SHIFT.
 */
export const TLB_SALT_BYTES_PER_TAG = (TLB_SALT_MUL << 4) >>> TAG_PRIV_SHIFT;
