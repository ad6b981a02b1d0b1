/**
 * SHA-256 of disk images, remembered between runs: hashing a 20 GiB image
 * takes ~20 s, and every record, replay and snapshot load names its images
 * by digest.
 *
 * An entry is keyed by device, inode, size, mtime and ctime (nanoseconds).
 * Any write to a file changes its ctime, which no user call can set back, so
 * a changed image misses the cache. As git does for its index, an entry is
 * only trusted when the file's ctime was at least two seconds older than
 * the hashing: a write within the file system's timestamp granularity of a
 * hash could otherwise keep the old key. Small files are hashed every time.
 * Images already read whole (firmware, kernel, initrd) are remembered the
 * same way from 1 MiB up (readBytesDigest).
 * The cache is a JSON file in the vmrs cache directory; if it cannot be
 * read or written, images are simply hashed.
 */
import { readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ImageFile, RACY_NS, identityKey, unchangedSource } from './image-file.js';
import { bytesDigest } from './file-digest.js';
import { cacheRoot } from './default-guest.js';

/** Files smaller than this are hashed every time (a fraction of a second). */
const MIN_CACHED_BYTES = 64 << 20;
const MAX_ENTRIES = 256;

interface Entry {
  key: string;
  sha256: string;
  usedMs: number;
}

function cacheFile(): string {
  return join(cacheRoot(), 'image-digests.json');
}

function load(): Record<string, Entry> {
  try {
    const v = JSON.parse(readFileSync(cacheFile(), 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Entry>) : {};
  } catch {
    return {};
  }
}

function save(entries: Record<string, Entry>): void {
  const kept = Object.entries(entries)
    .sort((a, b) => b[1].usedMs - a[1].usedMs)
    .slice(0, MAX_ENTRIES);
  const file = cacheFile();
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(kept)));
    renameSync(tmp, file);
  } catch {
    // A read-only or missing cache directory: the digest is still right, only not kept.
  }
}

/** The remembered digest of the file at `name` with identity `key`, if any (marked used). */
function remembered(entries: Record<string, Entry>, name: string, key: string): string | undefined {
  const hit = entries[name];
  if (!hit || hit.key !== key || typeof hit.sha256 !== 'string') return undefined;
  // The cache is rewritten for its use times at most once a minute a file, not at every start.
  if (!(Date.now() - hit.usedMs < 60_000)) {
    hit.usedMs = Date.now();
    save(entries);
  }
  return hit.sha256;
}

/** SHA-256 (hex) of an open image, from the cache when the file is unchanged since it was remembered. */
export function imageFileDigest(img: ImageFile): string {
  const st = img.identity;
  if (st.size < BigInt(MIN_CACHED_BYTES)) return img.hash();
  const key = identityKey(st);
  const name = resolve(img.path);
  const entries = load();
  const hit = remembered(entries, name, key);
  if (hit !== undefined) return hit;
  const startWallNs = BigInt(Date.now()) * 1_000_000n;
  const sha256 = img.hash();
  const after = img.stat();
  const unchanged = identityKey(after) === key;
  if (unchanged && startWallNs - st.ctimeNs >= RACY_NS) {
    entries[name] = { key, sha256, usedMs: Date.now() };
    save(entries);
  }
  return sha256;
}

/** Bytes read whole from a file smaller than this are hashed every time (about 2 ms a MiB). */
const MIN_CACHED_READ = 1 << 20;

/**
 * SHA-256 (hex) of bytes: for bytes read whole from a file that is still the
 * same, unchanged since well before the read (image-file.ts
 * unchangedSource), remembered under the file's identity as large images
 * are. Recording and replaying name the firmware, kernel and initrd by
 * digest: hashing the default guest's 5 MiB took 10-22 ms of every record
 * and replay start. The bytes must be as read (the machine copies images
 * into RAM and leaves them be).
 */
export function readBytesDigest(bytes: Uint8Array): string {
  const from = bytes.length < MIN_CACHED_READ ? undefined : unchangedSource(bytes);
  if (!from) return bytesDigest(bytes);
  const key = identityKey(from.identity);
  const name = resolve(from.path);
  const entries = load();
  const hit = remembered(entries, name, key);
  if (hit !== undefined) return hit;
  // These are the file's bytes as it still is (its identity now is the one it had before the read).
  const sha256 = bytesDigest(bytes);
  entries[name] = { key, sha256, usedMs: Date.now() };
  save(entries);
  return sha256;
}

/** SHA-256 (hex) of the regular file at `path` (opened once; see imageFileDigest). */
export function imageDigest(path: string, what = 'image'): string {
  const img = ImageFile.open(path, what);
  try {
    return imageFileDigest(img);
  } finally {
    img.close();
  }
}
