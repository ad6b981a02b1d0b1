/**
 * Appending to a list of icounts (a Float64Array) without copying the whole
 * list each time. No Node APIs: the page's timeline uses it.
 */

/** Buffers appendIcounts made, and so may grow in place (no one else holds their tail). */
const grown = new WeakSet<ArrayBufferLike>();

/**
 * `list` with `add` after it: in place when `list` is a list this function
 * made and its buffer has room, else in a new buffer twice the size. So a
 * track that grows by many small messages (the page's timeline while a
 * replay runs) costs amortized copies, not the whole list each time. An
 * earlier view keeps its length and contents.
 */
export function appendIcounts(list: Float64Array, add: Float64Array): Float64Array {
  const n = list.length,
    m = add.length;
  if (m === 0) return list;
  const room = list.buffer.byteLength / 8 - list.byteOffset / 8;
  let out: Float64Array;
  if (grown.has(list.buffer) && room >= n + m)
    out = new Float64Array(list.buffer, list.byteOffset, n + m);
  else {
    const buf = new Float64Array(Math.max(64, 2 * (n + m)));
    grown.add(buf.buffer);
    buf.set(list);
    out = buf.subarray(0, n + m);
  }
  out.set(add, n);
  return out;
}
