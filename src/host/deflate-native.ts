/**
 * Checkpoint compression for the recorder on Node: zlib's raw DEFLATE
 * (what fflate reads back), run on libuv's thread pool. Native zlib at
 * level 1 is several times faster than fflate in JavaScript, and costs no
 * worker start per checkpoint; the main thread only hands the bytes over.
 *
 * A large checkpoint is cut into parts compressed at once on the pool's
 * threads, as pigz does: every part but the last ends in a sync flush (an
 * empty stored block, byte-aligned, not final), so the parts laid end to end
 * are one valid DEFLATE stream. A part's matches reach only into itself,
 * which costs a few hundred bytes per part. Recording ends by waiting for
 * the last checkpoint, so its compression time is wall time there.
 *
 * Each output buffer is as large as its input: zlib's stream would otherwise
 * go back to the main thread for every 16 KiB it produces, and a main
 * thread busy with 20 ms slices makes each of those round trips a slice
 * long (a 10 MiB checkpoint then took seconds).
 */
import { availableParallelism } from 'node:os';
import { constants, createDeflateRaw } from 'node:zlib';
import type { Compressor } from '../replay/recorder.js';

/** Parts no smaller than this: below it, one more part saves less than it costs. */
const MIN_PART = 2 << 20;
/** libuv's thread pool has four threads unless UV_THREADPOOL_SIZE says otherwise. */
const PARTS = Math.max(1, Math.min(availableParallelism(), 4));

/**
 * One part, as the pieces zlib gives (the bulk, then what the final flush
 * held back): zlib's callback form concatenates them into a new buffer on
 * the main thread, and that copy's first-touch faults cost about 13 ms for a
 * boot's first checkpoint on this host.
 */
function deflatePart(part: Uint8Array, last: boolean): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const z = createDeflateRaw({
      level: 1,
      // The largest hash table: on a boot's checkpoint, 15% less time for the same bytes.
      memLevel: 9,
      chunkSize: Math.max(1 << 16, part.length + 4096),
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    });
    const pieces: Buffer[] = [];
    z.on('data', (c: Buffer) => pieces.push(c));
    z.on('error', reject);
    z.on('end', () => resolve(pieces));
    z.end(part);
  });
}

/**
 * Raw DEFLATE of `raw` in up to `parts` pieces compressed in parallel, given
 * back as the pieces (written one after the other, never copied together).
 */
export async function deflateInParts(
  raw: Uint8Array,
  parts: number,
  minPart = MIN_PART,
): Promise<Uint8Array[]> {
  const n = Math.max(1, Math.min(parts, Math.floor(raw.length / minPart)));
  const step = Math.ceil(raw.length / n);
  const outs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      deflatePart(raw.subarray(i * step, (i + 1) * step), i === n - 1),
    ),
  );
  return outs.flat().map((o) => new Uint8Array(o.buffer, o.byteOffset, o.length));
}

export const deflateNative: Compressor = (raw) => deflateInParts(raw, PARTS);
