/**
 * A recording with a disk replays in the page: the disk image, named by
 * path in the recording, is fetched from `vmrs serve` by its digest and
 * written in memory only (src/devices/virtio/cow-store.ts), as `vmrs
 * replay` does. Same console bytes, every digest verified, the same end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { recordSession, replayFile, vmrsOn } from '../helpers/recording.js';
import { makeExt2 } from '../helpers/host-tools.js';
import { fileDigest } from '../../src/host/file-digest.js';
import { needTools } from '../helpers/tools.js';
import { launchChromium, serve, settled } from '../helpers/web-page.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-web-disk-'));

test('a recording with a disk replays in Chromium as in Node, the image untouched', async (t) => {
  if (!needTools(t, 'chromium')) return;
  const img = makeExt2(join(dir, 'disk.img'), 8);
  const before = fileDigest(img);
  const { file } = await recordSession(
    join(dir, 'disk.vmrs'),
    ['--drive', `file=${img}`],
    async (vm) => {
      await vm.shell('echo written-in-the-page > /mnt/p.txt; sync; cat /mnt/p.txt; ls -l /mnt');
    },
  );
  const node = replayFile(file);
  assert.equal(node.status, 0, node.stderr);
  assert.match(node.stdout, /^written-in-the-page\r?$/m);
  const digests = Number(/(\d+) state digests verified/.exec(node.stderr)![1]);
  const last = Number(/^guest\s+(\d+) instructions/m.exec(vmrsOn('inspect', file).stdout)![1]);

  const { url, child } = await serve([file]);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${url}?replay=disk.vmrs`);
    const st = await settled(page);
    assert.equal(st.state, 'done', st.error ?? '');
    assert.equal(st.icount, last);
    assert.equal(st.digestsVerified, digests);
    assert.equal(Buffer.from(st.consoleText, 'utf8').toString('latin1'), node.stdout);
  } finally {
    await browser?.close();
    child.kill();
  }
  assert.equal(fileDigest(img), before, 'the base image is as it was');
});
