/** SHA-256 of a file, read in large chunks (images can be gigabytes). */
import { closeSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';

export function fileDigest(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(4 << 20);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      pos += n;
    }
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

export function bytesDigest(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
