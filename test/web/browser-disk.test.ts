/**
 * A recording with a disk and a NIC replays in the page: the disk image,
 * named by path in the recording, is fetched from `vmrs serve` by its
 * digest and written in memory only (src/devices/virtio/cow-store.ts), as
 * `vmrs replay` does. Same console bytes, every digest verified, the same
 * end; and the timeline's tracks of the guest's own doing (frames it sent,
 * its disk requests), found as the page's replay passes, are the ones a
 * replay in Node finds, event for event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { recordSession, replayFile, vmrsOn } from '../helpers/recording.js';
import { hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { openReplay } from '../../src/cli/open-replay.js';
import { DISK_TRACK, GuestActionLog, NET_OUT_TRACK } from '../../src/replay/guest-actions.js';
import { fileDigest } from '../../src/host/file-digest.js';
import { needTools } from '../helpers/tools.js';
import { launchChromium, newAppPage, serve, settled } from '../helpers/web-page.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-web-disk-'));
const shots = process.env.VMRS_SCREENSHOTS ?? join(dir, 'screenshots');
mkdirSync(shots, { recursive: true });

interface Observed {
  observedTo: number;
  tracks: { name: string; icounts: number[]; labels: string[] }[];
}
/** What page.evaluate sees of window.vmrs (functions given to it run in the page: no closures). */
type Hook = { vmrs: { seek(ic: number): Promise<unknown>; play(): void; observed(): Observed } };
const observedIn = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as Hook).vmrs.observed());

/** The frames sent and disk requests a replay in Node meets, as the page labels them. */
function guestActionsInNode(file: string): GuestActionLog {
  const log = new GuestActionLog();
  let at = () => 0;
  const r = openReplay(file, {
    verify: false,
    log: () => {},
    stdout: () => {},
    netSent: (nic, frame) => log.netSent(nic, frame, at()),
    diskRequest: (disk, r) => log.diskRequest(disk, r, at()),
  });
  at = () => r.vm.cpu.icount;
  try {
    let st = r.replayer.step(50_000_000);
    while (st.state === 'running') st = r.replayer.step(50_000_000);
    assert.equal(st.state, 'done');
  } finally {
    r.close();
  }
  return log;
}

test('a recording with a disk and a NIC replays in Chromium as in Node, the image untouched', async (t) => {
  if (!needTools(t, 'chromium', 'passt')) return;
  const img = makeExt2(join(dir, 'disk.img'), 8);
  const before = fileDigest(img);
  const server = await servePayload('fetched-over-the-wire\n');
  let file: string;
  try {
    ({ file } = await recordSession(
      join(dir, 'disk.vmrs'),
      ['--drive', `file=${img}`, '--net', 'user'],
      async (vm) => {
        await vm.shell('echo written-in-the-page > /mnt/p.txt; sync; cat /mnt/p.txt; ls -l /mnt');
        assert.match(
          await vm.shell(`wget -q -O - ${hostUrlFromGuest(server.port)}`),
          /fetched-over-the-wire/,
        );
      },
    ));
  } finally {
    server.close();
  }
  const node = replayFile(file);
  assert.equal(node.status, 0, node.stderr);
  assert.match(node.stdout, /^written-in-the-page\r?$/m);
  const digests = Number(/(\d+) state digests verified/.exec(node.stderr)![1]);
  const last = Number(/^guest\s+(\d+) instructions/m.exec(vmrsOn('inspect', file).stdout)![1]);

  const { url, child } = await serve([file]);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, errors } = await newAppPage(browser);
    await page.goto(`${url}?replay=disk.vmrs`);
    const st = await settled(page);
    assert.equal(st.state, 'done', st.error ?? '');
    assert.equal(st.icount, last);
    assert.equal(st.digestsVerified, digests);
    assert.equal(Buffer.from(st.consoleText, 'utf8').toString('latin1'), node.stdout);

    // The guest's doing, found by the page's replay: as Node finds it, event for event.
    const ref = guestActionsInNode(file);
    assert.ok(ref.netOut.n > 0 && ref.disk.n > 0, 'the guest sent frames and used its disk');
    assert.ok(
      ref.disk.labels!.some((l) => / write /.test(l)),
      'a disk write',
    );
    assert.ok(
      ref.netOut.labels!.some((l) => /TCP .* \[S\]/.test(l)),
      `a TCP SYN among ${ref.netOut.labels!.join('; ')}`,
    );
    const sameAsNode = async (when: string) => {
      const seen = await observedIn(page);
      assert.equal(seen.observedTo, last, when);
      for (const [name, list] of [
        [NET_OUT_TRACK, ref.netOut],
        [DISK_TRACK, ref.disk],
      ] as const) {
        const got = seen.tracks.find((d) => d.name === name);
        assert.ok(got, `the page has a ${name} track (${when})`);
        assert.deepEqual(got.icounts, Array.from(list.a.subarray(0, list.n)), `${name} ${when}`);
        assert.deepEqual(got.labels, list.labels, `${name} ${when}`);
      }
    };
    await sameAsNode('after the replay');
    // Back to the middle and on to the end again: ground gone over twice adds nothing.
    await page.evaluate(
      (ic) => (globalThis as unknown as Hook).vmrs.seek(ic),
      Math.floor(last / 2),
    );
    await page.evaluate(() => (globalThis as unknown as Hook).vmrs.play());
    assert.equal((await settled(page)).state, 'done');
    await sameAsNode('after going back and replaying to the end again');
    await page.screenshot({ path: join(shots, '9-guest-actions.png') });
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  } finally {
    await browser?.close();
    child.kill();
  }
  assert.equal(fileDigest(img), before, 'the base image is as it was');
});
