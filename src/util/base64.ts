/**
 * Base64 (RFC 4648, with padding) without Node: machine state travels as
 * JSON in snapshots and checkpoints, which the browser app reads too. Node's
 * Buffer is used where there is one (the same text, faster).
 */
interface NodeBufferLike {
  from(b: ArrayBufferLike, offset: number, length: number): { toString(enc: 'base64'): string };
  from(s: string, enc: 'base64'): Uint8Array;
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;

export function toBase64(b: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  let s = '';
  // In pieces: String.fromCharCode takes its bytes as arguments.
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/** The bytes of base64 text; throws (RangeError) when it is not base64. */
export function fromBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1)
    throw new RangeError('not base64');
  if (NodeBuffer) return new Uint8Array(NodeBuffer.from(text, 'base64'));
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
