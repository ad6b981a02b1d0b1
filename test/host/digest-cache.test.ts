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
import { imageDigest } from '../../src/host/digest-cache.js';
import { fileDigest } from '../../src/host/file-digest.js';
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

  // Just written: its timestamps cannot be trusted yet, so it is hashed and not kept.
  assert.equal(imageDigest(img), fileDigest(img));
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
  delete process.env.VMRS_CACHE_DIR;
});
