import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ImageFile,
  ImageFileError,
  readImageFile,
  unchangedSinceRead,
} from '../../src/host/image-file.js';
import { readImageAsync } from '../../src/cli/options.js';
import { waitUntil } from '../helpers/wait.js';

test('unchangedSinceRead: trusted only for an old file that is still the one read, as it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-image-file-'));
  const [kernel, twin, initrd, bios] = ['Image', 'Image.twin', 'initrd', 'bios'].map((n) =>
    join(dir, n),
  );
  for (const f of [kernel, twin, initrd, bios]) writeFileSync(f, new Uint8Array(8192).fill(7));

  // Bytes that readAll() did not return: nothing is known of them.
  assert.equal(unchangedSinceRead(new Uint8Array(8192)), false);
  // Just written: a write in the same tick of the kernel's clock could leave its times alone.
  assert.equal(unchangedSinceRead(readImageFile(kernel, 'kernel')), false);

  const changed = statSync(bios, { bigint: true }).ctimeNs;
  await waitUntil(
    () => BigInt(Date.now()) * 1_000_000n - changed > 2_100_000_000n,
    'the files to be two seconds old',
  );
  const k = readImageFile(kernel, 'kernel');
  const i = readImageFile(initrd, 'initrd');
  const b = readImageFile(bios, 'firmware');
  for (const bytes of [k, i, b]) assert.equal(unchangedSinceRead(bytes), true, 'old, untouched');

  // Written in place, the same size: its times change.
  const fd = openSync(initrd, 'r+');
  writeSync(fd, Buffer.from('changed'), 0, 7, 100);
  closeSync(fd);
  assert.equal(unchangedSinceRead(i), false, 'written in place');
  // Replaced by another file with the same bytes; gone.
  renameSync(twin, kernel);
  assert.equal(unchangedSinceRead(k), false, 'replaced');
  rmSync(bios);
  assert.equal(unchangedSinceRead(b), false, 'gone');
  rmSync(dir, { recursive: true, force: true });
});

test('readAllAsync: the same bytes as readAll, read on the thread pool; a file that shrank or cannot be read is an error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-image-file-'));
  const path = join(dir, 'Image');
  // Larger than one read may return, and not a whole number of pages.
  const bytes = new Uint8Array(3 * 1024 * 1024 + 123);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  writeFileSync(path, bytes);
  const img = ImageFile.open(path, 'kernel');
  const got = await img.readAllAsync();
  assert.deepEqual(got, bytes);
  assert.deepEqual(got, img.readAll());
  // Its origin is remembered as readAll's is (the file is new: not trusted yet, but known).
  assert.equal(unchangedSinceRead(got), false);

  truncateSync(path, 4096);
  await assert.rejects(img.readAllAsync(), (e: Error) => {
    assert.ok(e instanceof ImageFileError);
    assert.match(e.message, /kernel '.*Image' shrank while being read \(4096 of 3145851 bytes\)/);
    return true;
  });
  img.close();

  // The command line's form: opened and checked at once, errors as UsageError.
  writeFileSync(path, bytes.subarray(0, 5000));
  assert.deepEqual(await readImageAsync('initrd', path), bytes.subarray(0, 5000));
  writeFileSync(path, new Uint8Array(0));
  assert.throws(() => readImageAsync('initrd', path), /initrd '.*Image' is empty/);
  assert.throws(() => readImageAsync('initrd', join(dir, 'nothing')), /initrd .* does not exist/);
  rmSync(dir, { recursive: true, force: true });
});
