/** A 64-bit value held as (lo, hi) words, as 0x and 16 hex digits. */
export const hex64 = (lo: number, hi: number): string =>
  '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
