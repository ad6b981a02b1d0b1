/**
 * The 32-bit hashes of state digests (a MurmurHash2-style mix). Recordings
 * hold their results, so changing any of these changes every recording's
 * digests: they stay as they are for as long as a format version uses them.
 */

export function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  return (h ^ (h >>> 15)) | 0;
}

export function hashWords(words: Int32Array, from: number, to: number, seed: number): number {
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
export function hashPage(words: Int32Array, page: number): number {
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

export const ZERO_PAGE_HASH = hashPage(new Int32Array(1024), 0);

/** Hash of a string's UTF-16 code units and length. */
export function hashString(s: string, seed: number): number {
  let h = mix(seed, s.length);
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i));
  return h;
}
