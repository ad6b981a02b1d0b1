/**
 * Per-page flags (one byte a RAM page, 0 or 1: written since…) scanned four
 * at a time. A state digest walks every page's flag twice (the bus hands
 * its flags to the listeners, the digester looks for its own), 65,536 of
 * them for 256 MiB of RAM and a million for 4 GiB, and few are set: byte by
 * byte, the two walks were about half of a digest's fixed cost.
 */

/** Flags for `pages` pages, all 0, in a buffer padded to whole 32-bit words (the padding stays 0). */
export function newPageFlags(pages: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer((pages + 3) & ~3), 0, pages);
}

/** The 32-bit words over flags made by newPageFlags. */
export function flagWords(flags: Uint8Array): Int32Array {
  if (flags.byteOffset !== 0 || (flags.buffer.byteLength & 3) !== 0)
    throw new Error('page flags not made by newPageFlags');
  return new Int32Array(flags.buffer, 0, flags.buffer.byteLength >> 2);
}

/** The first page from `from` on whose flag is set, or -1 (`words` = flagWords(flags)). */
export function nextFlagged(flags: Uint8Array, words: Int32Array, from: number): number {
  const n = flags.length;
  let p = from;
  // Up to a word's start, then a word at a time.
  for (; p < n && (p & 3) !== 0; p++) if (flags[p] !== 0) return p;
  if (p >= n) return -1;
  let w = p >> 2;
  while (w < words.length && words[w] === 0) w++;
  for (p = w << 2; p < n; p++) if (flags[p] !== 0) return p;
  return -1;
}
