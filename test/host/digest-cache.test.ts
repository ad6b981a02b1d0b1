import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  writeSync,
  ftruncateSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageDigest, readBytesDigest } from '../../src/host/digest-cache.js';
import { bytesDigest, fileDigest } from '../../src/host/file-digest.js';
import { readImageFile } from '../../src/host/image-file.js';
import { waitUntil } from '../helpers/wait.js';

test('image digests: remembered for an unchanged image, recomputed after any write, never for a racy one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-digests-'));
  process.env.VMRS_CACHE_DIR = join(dir, 'cache');
  const cacheFile = join(dir, 'cache', 'image-digests.json');
  const img = join(dir, 'disk.img');
  const fd = openSync(img, 'w');
  ftruncateSync(fd, 80 << 20);
  writeSync(fd, Buffer.from('first'), 0, 5, 1 << 20);
  closeSync(fd);
  // A kernel-sized image, read whole as the machine's images are.
  const kernel = join(dir, 'Image');
  const kfd = openSync(kernel, 'w');
  ftruncateSync(kfd, 3 << 20);
  writeSync(kfd, Buffer.from('kernel'), 0, 6, 4096);
  closeSync(kfd);

  // Just written: its timestamps cannot be trusted yet, so it is hashed and not kept.
  assert.equal(imageDigest(img), fileDigest(img));
  assert.equal(readBytesDigest(readImageFile(kernel, 'kernel')), fileDigest(kernel));
  assert.equal(existsSync(cacheFile), false);
  // Once its change time is two seconds old, the file's digest may be kept.
  const changed = statSync(img, { bigint: true }).ctimeNs;
  await waitUntil(
    () => BigInt(Date.now()) * 1_000_000n - changed > 2_000_000_000n,
    'the image to be two seconds old',
  );
  const d1 = imageDigest(img);
  assert.equal(d1, fileDigest(img));
  const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, { sha256: string }>;
  assert.equal(Object.values(cached)[0].sha256, d1);
  assert.equal(imageDigest(img), d1, 'from the cache');

  // One byte changed (same size): a new digest, not the remembered one.
  const fd2 = openSync(img, 'r+');
  writeSync(fd2, Buffer.from('x'), 0, 1, 1 << 20);
  closeSync(fd2);
  const d2 = imageDigest(img);
  assert.notEqual(d2, d1);
  assert.equal(d2, fileDigest(img));

  // Bytes read whole, the file two seconds unchanged: remembered under the file's identity.
  const k1 = readBytesDigest(readImageFile(kernel, 'kernel'));
  assert.equal(k1, fileDigest(kernel));
  const kept = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, { sha256: string }>;
  assert.equal(kept[kernel].sha256, k1);
  assert.equal(readBytesDigest(readImageFile(kernel, 'kernel')), k1, 'from the cache');
  // Bytes that came from no file are hashed.
  assert.equal(readBytesDigest(new Uint8Array(2 << 20)), bytesDigest(new Uint8Array(2 << 20)));
  // The file written after the read: its bytes are not the file's any more, and are hashed.
  const read = readImageFile(kernel, 'kernel');
  const kfd2 = openSync(kernel, 'r+');
  writeSync(kfd2, Buffer.from('K'), 0, 1, 4096);
  closeSync(kfd2);
  assert.equal(readBytesDigest(read), bytesDigest(read));
  assert.notEqual(readBytesDigest(readImageFile(kernel, 'kernel')), k1);
  delete process.env.VMRS_CACHE_DIR;
});
