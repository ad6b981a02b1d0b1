/**
 * A machine's memory made before the machine, with the pages its boot will
 * copy images into touched on libuv's thread pool (Node only). A first touch
 * of fresh memory costs about 11 µs a page on this project's reference host,
 * and the default guest's firmware, kernel and initrd fill 1,300 pages: the
 * copy into fresh RAM took 22-26 ms of the main thread at every start. Made
 * while the images are read and the interpreter warms up, it costs the main
 * thread nothing but the Bus's zeroing of those spans (below 1 ms).
 *
 * randomFill is the pool's one operation that writes a caller's buffer in
 * place (host/prefault.ts says why not a read from /dev/zero); what it writes
 * is zeroed by the Bus before anything else sees the memory, and the memory
 * is handed over only once every fill has ended.
 */
import { randomFill } from 'node:crypto';
import { wasmMemory, type PreparedRam } from '../machine/bus.js';
import { HART_AREA } from '../cpu/hart-memory.js';

/** Spans smaller than this are not worth a trip to the pool. */
const MIN_SPAN = 64 << 10;

/**
 * Memory for `ramSize` bytes of RAM whose `spans` (RAM offsets and lengths)
 * are touched; undefined when there is nothing to touch or no memory to be
 * had (the machine then makes its own, as without this).
 */
export async function prepareRam(
  ramSize: number,
  spans: readonly (readonly [number, number])[],
): Promise<PreparedRam | undefined> {
  const wanted = spans.filter(
    ([off, length]) => length >= MIN_SPAN && off >= 0 && off + length <= ramSize,
  );
  if (wanted.length === 0) return undefined;
  const memory = wasmMemory(ramSize);
  if (!memory) return undefined;
  const fills = wanted.map(
    ([off, length]) =>
      new Promise<void>((resolve, reject) =>
        randomFill(new Uint8Array(memory.buffer, HART_AREA + off, length), (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
  );
  // Every fill must have ended before the memory is used, failed ones too.
  const results = await Promise.allSettled(fills);
  if (results.some((r) => r.status === 'rejected')) return undefined;
  return { memory, spans: wanted, taken: false };
}
