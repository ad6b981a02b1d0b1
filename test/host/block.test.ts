import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  mkdtempSync,
  openSync,
  ftruncateSync,
  writeFileSync,
  readFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDriveOption, DriveError } from '../../src/host/drive-options.js';
import { RawFileStore } from '../../src/host/block-file.js';
import { MemoryCowStore, OverlayStore, overlayInfo } from '../../src/host/block-cow.js';
import { BlockIoError, type BlockStore } from '../../src/devices/virtio/backends.js';
import { fileDigest } from '../../src/host/file-digest.js';
import { withSeed } from '../helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-block-'));

function image(name: string, size: number, seed = 1): string {
  const p = join(dir, name);
  const data = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) data[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  writeFileSync(p, data);
  return p;
}

test('--drive parsing', () => {
  assert.deepEqual(parseDriveOption('disk.img'), {
    file: 'disk.img',
    readOnly: false,
    snapshot: false,
    overlay: undefined,
    serial: 'disk.img',
  });
  const d = parseDriveOption('file=/x/a.img,format=raw,readonly=on,overlay=/o.ovl,serial=S1');
  assert.equal(d.readOnly, true);
  assert.equal(d.overlay, '/o.ovl');
  assert.equal(d.serial, 'S1');
  assert.equal(parseDriveOption('file=' + 'x'.repeat(40)).serial.length, 20);
  for (const [spec, re] of [
    ['format=raw', /file= is required/],
    ['file=a,fromat=raw', /unknown key 'fromat'/],
    ['file=a,format=qcow2', /qcow2/],
    ['file=a,readonly=maybe', /on or off/],
    ['file=a,snapshot=on,overlay=b', /exclude/],
    ['file=a,file=b', /twice/],
    ['file=a,serial=' + 'y'.repeat(21), /serial/],
    ['file=a,junk', /key=value/],
  ] as const)
    assert.throws(
      () => parseDriveOption(spec),
      (e: Error) => e instanceof DriveError && re.test(e.message),
      spec,
    );
});

function roundTrip(store: BlockStore) {
  const data = Uint8Array.from({ length: 70000 }, (_, i) => (i * 13) & 0xff);
  store.write(1000, data); // unaligned, crosses a 64 KiB cluster boundary
  const back = new Uint8Array(70000);
  store.read(1000, back);
  assert.deepEqual(back, data);
  store.flush();
}

test('raw image: I/O at unaligned offsets, beyond 4 GiB on a sparse file, read-only refusal, bad files', () => {
  const p = image('raw.img', 1 << 18);
  const s = new RawFileStore(p, false);
  assert.equal(s.size, 1 << 18);
  roundTrip(s);
  s.close();
  const big = join(dir, 'sparse.img');
  const fd = openSync(big, 'w');
  ftruncateSync(fd, 5 * 2 ** 30);
  closeSync(fd);
  const b = new RawFileStore(big, false);
  const far = 4.5 * 2 ** 30 + 123;
  b.write(far, Uint8Array.of(1, 2, 3));
  const got = new Uint8Array(5);
  b.read(far - 1, got);
  assert.deepEqual(got, Uint8Array.of(0, 1, 2, 3, 0));
  b.close();
  const ro = new RawFileStore(p, true);
  assert.throws(() => ro.write(0, new Uint8Array(1)), BlockIoError);
  ro.close();
  assert.throws(() => new RawFileStore(join(dir, 'missing.img'), false), /does not exist/);
  mkdirSync(join(dir, 'adir'));
  assert.throws(() => new RawFileStore(join(dir, 'adir'), false), /not a regular file/);
});

test('snapshot=on: writes visible, base untouched', () => {
  const p = image('snap.img', 1 << 18);
  const before = fileDigest(p);
  const s = new MemoryCowStore(p, false);
  roundTrip(s);
  const orig = readFileSync(p);
  const one = new Uint8Array(1);
  s.read(999, one);
  assert.equal(one[0], orig[999], 'bytes next to a write come from the base');
  s.close();
  assert.equal(fileDigest(p), before);
});

test('overlay: persists across reopen, base untouched, refuses a changed base and corrupt files', () => {
  const p = image('base.img', 1 << 19);
  const before = fileDigest(p);
  const o = join(dir, 'a.ovl');
  let s = new OverlayStore(p, o, false);
  roundTrip(s);
  s.close();
  s = new OverlayStore(p, o, false);
  const back = new Uint8Array(70000);
  s.read(1000, back);
  assert.deepEqual(
    back,
    Uint8Array.from({ length: 70000 }, (_, i) => (i * 13) & 0xff),
  );
  s.close();
  assert.equal(fileDigest(p), before);
  assert.equal(overlayInfo(o).allocatedClusters, 2);
  assert.equal(overlayInfo(o).baseDigest, before);

  // Corrupt overlays: bad magic, a table entry pointing past the end, a truncated table.
  const bytes = readFileSync(o);
  const bad1 = join(dir, 'bad1.ovl');
  writeFileSync(bad1, Buffer.concat([Buffer.from('NOTVMRS!'), bytes.subarray(8)]));
  assert.throws(() => new OverlayStore(p, bad1, false), /not a vmrs overlay/);
  const bad2 = join(dir, 'bad2.ovl');
  const b2 = Buffer.from(bytes);
  b2.writeUInt32LE(0xffff, 4096 + 4 * 5);
  writeFileSync(bad2, b2);
  assert.throws(() => new OverlayStore(p, bad2, false), /points outside the file/);
  const bad3 = join(dir, 'bad3.ovl');
  writeFileSync(bad3, bytes.subarray(0, 4100));
  assert.throws(() => new OverlayStore(p, bad3, false), /truncated/);

  // The base changes after the overlay was made: refused.
  const fd = openSync(p, 'r+');
  writeFileSync(fd, Uint8Array.of(42));
  closeSync(fd);
  assert.throws(() => new OverlayStore(p, o, false), /has changed/);
});

test(
  'overlay: random writes match a model, including after reopen',
  withSeed((_t, rng) => {
    const size = 3 << 16;
    const p = image('model.img', size, 7);
    const model = new Uint8Array(readFileSync(p));
    const o = join(dir, 'model.ovl');
    let s = new OverlayStore(p, o, false);
    const rnd = (n: number) => rng.int(n);
    for (let i = 0; i < 300; i++) {
      const len = 1 + rnd(i % 10 === 0 ? 100000 : 3000);
      const off = rnd(size - len);
      const data = Uint8Array.from({ length: len }, () => rnd(256));
      s.write(off, data);
      model.set(data, off);
      if (i === 150) {
        s.close();
        s = new OverlayStore(p, o, false);
      }
    }
    const all = new Uint8Array(size);
    s.read(0, all);
    assert.deepEqual(all, model);
    s.close();
  }),
);
