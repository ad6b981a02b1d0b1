/**
 * Raw DEFLATE (RFC 1951), as recordings and snapshots store their chunks.
 *
 * On Node (20.16 and later, where `process.getBuiltinModule` exists) this is
 * the built-in zlib: about 4× faster than fflate's JavaScript both ways (a
 * boot's 13 MiB checkpoint inflates in 24 ms instead of 98; a snapshot
 * deflates in 85 ms instead of 270). In a browser, and on older Node, it is
 * fflate. Both make and read the same format, so a file made by one is read
 * by the other.
 */
import { nodeBuiltin } from './node-builtin.js';
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from 'fflate';

/** The stream holds more bytes than the caller made room for. */
export class InflateOverflow extends Error {
  constructor(readonly room: number) {
    super(`decompresses to more than ${room} bytes`);
  }
}

export interface DeflateCodec {
  readonly name: string;
  /**
   * The bytes `stored` inflates to, at most `room` of them: InflateOverflow
   * when there are more, another Error when it is not a whole DEFLATE stream.
   */
  inflate(stored: Uint8Array, room: number): Uint8Array;
  deflate(raw: Uint8Array, level: number): Uint8Array;
}

type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/**
 * The most bytes `storedLength` bytes of DEFLATE can inflate to: a match of
 * 258 bytes at best takes two bits (length and distance codes of one bit
 * each), 1,032 bytes a byte, plus a block header's worth. Output memory is
 * sized by the smaller of this and the length expected, so a damaged file
 * that claims a huge chunk does not make the reader allocate it.
 */
export const maxInflated = (storedLength: number): number => storedLength * 1032 + 1024;

export const fflateCodec: DeflateCodec = {
  name: 'fflate',
  inflate(stored, room) {
    // fflate gives back the output buffer untouched for no input at all.
    if (stored.length === 0) throw new Error('no DEFLATE stream');
    // One byte of room more: a longer stream fills it and shows (fflate drops the rest).
    const out = fflateInflate(stored, {
      out: new Uint8Array(Math.min(room, maxInflated(stored.length)) + 1),
    });
    if (out.length > room) throw new InflateOverflow(room);
    return out;
  },
  deflate: (raw, level) => fflateDeflate(raw, { level: level as Level }),
};

interface NodeZlib {
  inflateRawSync(b: Uint8Array, o: object): Uint8Array;
  deflateRawSync(b: Uint8Array, o: object): Uint8Array;
}

/** The built-in zlib's codec, when this runtime has one it can reach without an import. */
export function nodeCodec(): DeflateCodec | undefined {
  const zlib = nodeBuiltin<NodeZlib>('node:zlib');
  if (!zlib) return undefined;
  return {
    name: 'zlib',
    inflate(stored, room) {
      try {
        // One output buffer of the size expected: zlib otherwise grows it 16 KiB at a time.
        const out = zlib.inflateRawSync(stored, {
          maxOutputLength: Math.max(1, room),
          chunkSize: Math.max(64, Math.min(room, maxInflated(stored.length))),
        });
        if (out.length > room) throw new InflateOverflow(room);
        return plainBytes(out);
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
          throw new InflateOverflow(room);
        throw e;
      }
    },
    deflate: (raw, level) => plainBytes(zlib.deflateRawSync(raw, { level })),
  };
}

/**
 * A Buffer as a plain Uint8Array (readers compare and view it as one), on
 * an 8-byte boundary: a small Buffer may sit at any offset of Node's pool,
 * and readers put Int32Array views on what they inflate.
 */
function plainBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset % 8 === 0
    ? new Uint8Array(b.buffer, b.byteOffset, b.length)
    : new Uint8Array(b);
}

/** The codec this process uses. */
export const deflateCodec: DeflateCodec = nodeCodec() ?? fflateCodec;

export const inflateRaw = (stored: Uint8Array, room: number): Uint8Array =>
  deflateCodec.inflate(stored, room);
export const deflateRaw = (raw: Uint8Array, level: number): Uint8Array =>
  deflateCodec.deflate(raw, level);
