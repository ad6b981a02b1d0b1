/**
 * A failed write on a copy-on-write disk changes nothing the guest reads
 * back — so a recording can log it and its replay fail the same call — or
 * says it may have (BlockIoError.partial), and the recording stops there.
 * Host failures are made real by closing the store's file descriptors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryCowStore, OverlayStore } from '../../src/host/block-cow.js';
import { BlockIoError, type BlockStore } from '../../src/devices/virtio/backends.js';

const CLUSTER = 64 << 10;
const dir = mkdtempSync(join(tmpdir(), 'vmrs-blkerr-'));
let n = 0;

function baseImage(): string {
  const path = join(dir, `base${n++}.img`);
  writeFileSync(path, new Uint8Array(4 * CLUSTER).fill(0xbb));
  return path;
}

/** Make the store's host file fail from now on (EBADF on every call). */
function breakFd(store: BlockStore, which: 'base' | 'overlay'): void {
  const s = store as unknown as { base: { fd: number }; fd: number };
  closeSync(which === 'base' ? s.base.fd : s.fd);
}

function writeError(f: () => void): BlockIoError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof BlockIoError, String(e));
    return e;
  }
  assert.fail('the write did not fail');
}

const read = (s: BlockStore, at: number, len: number) => {
  const b = new Uint8Array(len);
  s.read(at, b);
  return b;
};

for (const kind of ['memory', 'overlay'] as const) {
  const open = () =>
    kind === 'memory'
      ? new MemoryCowStore(baseImage(), false)
      : new OverlayStore(baseImage(), join(dir, `ovl${n++}`), false);

  test(`${kind}: a write whose base read fails changes nothing, not even the clusters it already had`, () => {
    const s = open();
    s.write(CLUSTER - 512, new Uint8Array(512).fill(1)); // cluster 0 now written
    breakFd(s, 'base');
    // 1024 bytes across clusters 0 (written) and 1 (first write: needs the base).
    const e = writeError(() => s.write(CLUSTER - 512, new Uint8Array(1024).fill(2)));
    assert.equal(e.partial, false);
    assert.deepEqual(read(s, CLUSTER - 512, 512), new Uint8Array(512).fill(1));
  });
}

test('overlay: a failed append of new clusters changes nothing; a failed write in place says it may have; checkpoints are offered only written clusters', () => {
  const s = new OverlayStore(baseImage(), join(dir, `ovl${n++}`), false);
  s.write(0, new Uint8Array(512).fill(1));
  breakFd(s, 'overlay');
  const fresh = writeError(() => s.write(2 * CLUSTER, new Uint8Array(512).fill(3)));
  assert.equal(fresh.partial, false);
  // The guest's view is unchanged: cluster 2 still reads from the base.
  assert.equal((s as unknown as { table: Uint32Array }).table[2], 0);
  assert.deepEqual(read(s, 2 * CLUSTER, 512), new Uint8Array(512).fill(0xbb));
  const inPlace = writeError(() => s.write(0, new Uint8Array(512).fill(4)));
  assert.equal(inPlace.partial, true);
  // A checkpoint is offered cluster 0 (written, and maybe changed by the failed write), not 2.
  assert.deepEqual(s.takeChanged(), [0]);
  assert.deepEqual(s.takeChanged(), []);
});
