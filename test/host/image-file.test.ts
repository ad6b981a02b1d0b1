import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageFile, unchangedSinceRead } from '../../src/host/image-file.js';
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
