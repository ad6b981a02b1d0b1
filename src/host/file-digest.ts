/** SHA-256 of files and bytes, read in large chunks (images can be gigabytes). */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';

const PIECE = 4 << 20;

/** Read into `buf` from `pos` until it is full or the file ends; returns the bytes read. */
export function readFully(fd: number, buf: Uint8Array, pos: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * SHA-256 (hex) of the first `size` bytes of an open file, by positioned
 * reads: never more than `size`, whatever the file does meanwhile (a file
 * that ends early is hashed as far as it goes, and will not match).
 */
export function fdDigest(fd: number, size: number): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(PIECE, Math.max(size, 1)));
  for (let pos = 0; pos < size;) {
    const want = Math.min(buf.length, size - pos);
    const n = readFully(fd, buf.subarray(0, want), pos);
    hash.update(buf.subarray(0, n));
    if (n < want) break;
    pos += n;
  }
  return hash.digest('hex');
}

/** SHA-256 of a regular file at `path` (anything else is refused: it might never end). */
export function fileDigest(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`'${path}' is not a regular file`);
    return fdDigest(fd, st.size);
  } finally {
    closeSync(fd);
  }
}

export function bytesDigest(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
