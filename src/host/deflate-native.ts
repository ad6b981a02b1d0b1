/**
 * Checkpoint compression for the recorder on Node: zlib's raw DEFLATE
 * (what fflate reads back), run on libuv's thread pool. Native zlib at
 * level 1 is several times faster than fflate in JavaScript, and costs no
 * worker start per checkpoint; the main thread only hands the bytes over.
 * The output buffer is as large as the input: zlib's stream would otherwise
 * go back to the main thread for every 16 KiB it produces, and a main
 * thread busy with 20 ms slices makes each of those round trips a slice
 * long (a 10 MiB checkpoint then took seconds).
 */
import { deflateRaw } from 'node:zlib';
import type { Compressor } from '../replay/recorder.js';

export const deflateNative: Compressor = (raw) =>
  new Promise((resolve, reject) =>
    deflateRaw(raw, { level: 1, chunkSize: Math.max(1 << 16, raw.length + 4096) }, (err, out) =>
      err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.length)),
    ),
  );
