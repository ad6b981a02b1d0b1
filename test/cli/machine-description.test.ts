import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EmbeddedImageMissing,
  configFromDescription,
  loadImagesAsync,
} from '../../src/cli/machine-description.js';
import { UsageError } from '../../src/cli/options.js';
import { bytesDigest } from '../../src/host/file-digest.js';
import type { ImageRef, MachineDescription } from '../../src/replay/log-format.js';

const bytes = (n: number, seed: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) >>> 3;
  return b;
};

test('loadImagesAsync: the images configFromDescription loads, read while the warm-up runs, with the same checks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-description-'));
  const file = (name: string, data: Uint8Array): ImageRef => {
    writeFileSync(join(dir, name), data);
    return { path: join(dir, name), size: data.length, sha256: bytesDigest(data), embedded: false };
  };
  const bios = bytes(70_000, 1);
  const kernel = bytes(3 << 20, 2);
  const initrd = bytes(1 << 20, 3);
  const embedded = new Map<string, Uint8Array>([['initrd', initrd]]);
  const d: MachineDescription = {
    machine: {
      memoryBytes: 64 << 20,
      append: '',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
      consoleOn: 'uart',
    },
    bios: file('bios', bios),
    kernel: file('Image', kernel),
    initrd: { ...file('unused', initrd), embedded: true },
    devices: [],
  };
  let warmUps = 0;
  const got = await loadImagesAsync(d, embedded, () => warmUps++);
  assert.equal(warmUps, 1);
  assert.deepEqual(got.bios, bios);
  assert.deepEqual(got.kernel, kernel);
  assert.equal(got.initrd, initrd, 'the embedded one, as it is');
  const sync = configFromDescription(d, embedded);
  assert.deepEqual([sync.bios, sync.kernel, sync.initrd], [got.bios, got.kernel, got.initrd]);

  // Refused before anything is read (and before the warm-up): missing, another size, not embedded.
  const refused = async (
    desc: MachineDescription,
    images: Map<string, Uint8Array>,
    why: RegExp,
  ) => {
    warmUps = 0;
    await assert.rejects(
      (async () => loadImagesAsync(desc, images, () => warmUps++))(),
      (e: Error) => e instanceof UsageError && why.test(e.message),
    );
    return warmUps;
  };
  const missing = { ...d, kernel: { ...d.kernel, path: join(dir, 'gone') } };
  assert.equal(await refused(missing, embedded, /kernel '.*gone' is not there/), 0);
  const resized = { ...d, bios: { ...(d.bios as ImageRef), size: 69_999 } };
  assert.equal(await refused(resized, embedded, /firmware .* \(70000 bytes, recorded 69999\)/), 0);
  assert.equal(await refused(d, new Map(), /the initrd is said to be embedded/), 0);
  await assert.rejects(
    loadImagesAsync(d, new Map(), () => {}),
    EmbeddedImageMissing,
  );
  // Another file of the same size: found out by its digest, once read.
  writeFileSync(join(dir, 'Image'), bytes(3 << 20, 9));
  assert.equal(await refused(d, embedded, /kernel '.*Image' is not the one recorded \(sha256/), 1);
  rmSync(dir, { recursive: true, force: true });
});
