/**
 * `vmrs serve` without a browser: what it offers (the app, the recordings
 * named, their images by digest, the guest a page may boot) and nothing else — no path leads out of
 * what was named, other methods are refused, pages carry their CSP; a
 * recording that is not there is refused at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { recordSession, vmrsOn } from '../helpers/recording.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-serve-'));

test('vmrs serve offers the app, the recordings named and their images, and nothing else', async () => {
  const { file } = await recordSession(join(dir, 'one.vmrs'), [], async () => {});
  const child = spawn(process.execPath, [VMRS_BIN, 'serve', '--port', '0', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  try {
    // The address and the list of recordings (the output may come in more than one piece).
    await waitUntil(
      () => /vmrs serve: (http:\S+)/.test(out) && /\?replay=one\.vmrs\n/.test(out),
      `vmrs serve to listen and list one.vmrs: ${out}`,
    );
    const url = /vmrs serve: (http:\S+)/.exec(out)![1];
    const get = (path: string, init?: RequestInit) => fetch(new URL(path, url), init);

    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    assert.match(page.headers.get('content-security-policy') ?? '', /'wasm-unsafe-eval'/);
    assert.doesNotMatch(page.headers.get('content-security-policy') ?? '', /'unsafe-eval'/);
    assert.equal((await get('/app.js')).status, 200);
    assert.equal((await get('/replay-worker.js')).status, 200);

    assert.deepEqual(await (await get('/api/recordings')).json(), [
      { name: 'one.vmrs', size: readFileSync(file).length },
    ]);
    const rec = new Uint8Array(await (await get('/recordings/one.vmrs')).arrayBuffer());
    assert.deepEqual(rec, new Uint8Array(readFileSync(file)));

    // The kernel it was recorded with, by its digest.
    const kernel = /^\s+kernel\s+(\S+) \(/m.exec(vmrsOn('inspect', file).stdout)![1];
    const sha = createHash('sha256').update(readFileSync(kernel)).digest('hex');
    const img = await get(`/images/${sha}`);
    assert.equal(img.status, 200);
    assert.equal(
      createHash('sha256')
        .update(new Uint8Array(await img.arrayBuffer()))
        .digest('hex'),
      sha,
    );

    // The guest the page may boot: the images the recording was made with (the default guest's).
    assert.equal((await get('/live-worker.js')).status, 200);
    const guest = (await (await get('/api/guest')).json()) as {
      machine: { memoryBytes: number; append: string; consoleOn: string };
      kernel: { path: string; sha256: string; size: number; embedded: boolean };
      initrd: { sha256: string };
      bios: { sha256: string };
    };
    assert.equal(guest.kernel.sha256, sha);
    assert.equal(guest.kernel.size, readFileSync(kernel).length);
    assert.equal(guest.kernel.embedded, false);
    assert.equal(guest.machine.consoleOn, 'uart');
    assert.equal(guest.machine.memoryBytes, 256 << 20);
    for (const d of [guest.initrd.sha256, guest.bios.sha256])
      assert.equal((await get(`/images/${d}`)).status, 200);

    // Nothing else.
    for (const path of [
      `/images/${'0'.repeat(64)}`,
      '/recordings/other.vmrs',
      '/recordings/..%2f..%2fetc%2fpasswd',
      '/..%2f..%2fetc%2fpasswd',
      '/%2e%2e/package.json',
      '/dist/web/index.html',
    ])
      assert.equal((await get(path)).status, 404, path);
    assert.equal((await get('/api/recordings', { method: 'POST' })).status, 405);
  } finally {
    child.kill();
  }

  const missing = spawnSync(process.execPath, [VMRS_BIN, 'serve', join(dir, 'nope.vmrs')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /nope\.vmrs/);
});
