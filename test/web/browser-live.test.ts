/**
 * A live machine in the page: Chromium boots the guest `vmrs serve --live`
 * offers, the test types into its terminal, the guest powers off, and the
 * recording downloaded from the page replays in Node with the same console
 * bytes, every digest and the same final icount — and replays in the page
 * too. A second machine, stopped by the page with its images carried in the
 * recording, replays in Node as well. A third boots a kernel chosen from
 * disk with its own command line: the recording carries that kernel, and
 * Node replays it. Screenshots go to $VMRS_SCREENSHOTS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PROMPT, replayFile, vmrsOn } from '../helpers/recording.js';
import { needTools } from '../helpers/tools.js';
import {
  launchChromium,
  newAppPage,
  poll,
  serve,
  settled,
  statusOf,
  type PageStatus,
} from '../helpers/web-page.js';
import { ensureDefaultGuest } from '../../src/host/default-guest.js';
import { readRecordingFile } from '../../src/cli/open-replay.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-live-'));
const shots = process.env.VMRS_SCREENSHOTS ?? join(dir, 'screenshots');
mkdirSync(shots, { recursive: true });

interface Hook {
  vmrs: { recording(): { name: string; size: number } | null; readonly mode: string };
}

/** Once the page's recording is finished, download it into `to`; its path. */
async function download(page: Page, to: string): Promise<string> {
  await poll(
    () => page.evaluate(() => (globalThis as unknown as Hook).vmrs.recording() !== null),
    'the recording',
  );
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download-btn')]);
  const name = dl.suggestedFilename();
  await dl.saveAs(join(to, name));
  return join(to, name);
}

/** `vmrs replay` of `file` succeeds, writes the console the page showed and ends where it stopped. */
function replaysInNode(file: string, st: PageStatus): ReturnType<typeof replayFile> {
  const node = replayFile(file);
  assert.equal(node.status, 0, node.stderr);
  assert.equal(
    Buffer.from(st.consoleText, 'utf8').toString('latin1'),
    node.stdout,
    'vmrs replay writes the console the page showed',
  );
  assert.equal(lastIcountOf(file), st.icount, 'the recording ends where the page stopped');
  return node;
}

/** The app's page at `url`, showing its offer of a machine. */
async function openOffer(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('#boot-btn').waitFor({ state: 'visible' });
}

/** `vmrs serve --live`, Chromium and the app's page at its offer for `body`; all closed after, whatever it does. */
async function withLiveOffer(
  body: (p: { page: Page; errors: string[]; url: string; output: () => string }) => Promise<void>,
): Promise<void> {
  const { url, child, output } = await serve([], ['--live']);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, errors } = await newAppPage(browser);
    await openOffer(page, url);
    await body({ page, errors, url, output });
  } finally {
    await browser?.close();
    child.kill();
  }
}

function digestsOf(stderr: string): number {
  return Number(/(\d+) state digests verified/.exec(stderr)?.[1] ?? NaN);
}

function lastIcountOf(file: string): number {
  return Number(/^guest\s+(\d+) instructions/m.exec(vmrsOn('inspect', file).stdout)![1]);
}

test('a live machine in the page: booted, typed into, recorded, downloaded; it replays in Node and in the page bit for bit', async (t) => {
  if (!needTools(t, 'chromium')) return;
  await withLiveOffer(async ({ page, errors, url, output }) => {
    await page.screenshot({ path: join(shots, 'live-1-offer.png') });
    await page.click('#boot-btn');

    await poll(
      async () => PROMPT.test((await statusOf(page)).consoleText),
      `the shell prompt in the page (${output()})`,
      300_000,
    );
    await page.screenshot({ path: join(shots, 'live-2-booted.png') });
    assert.equal((await statusOf(page)).state, 'running');
    await page.click('#terminal');
    await page.keyboard.type('echo live-$((6*7)); cat /proc/sys/kernel/random/boot_id\n');
    await poll(
      async () => /^live-42\r?$/m.test((await statusOf(page)).consoleText),
      'the command to run',
      60_000,
    );
    await page.keyboard.type('poweroff -f\n');
    const st = await settled(page, 120_000);
    assert.equal(
      st.state,
      'done',
      JSON.stringify({ ...st, consoleText: st.consoleText.slice(-300) }),
    );
    await page.screenshot({ path: join(shots, 'live-3-done.png') });
    const file = await download(page, dir);
    assert.match(file, /live-\d{8}-\d{6}\.vmrs$/);

    // Node replays the page's recording: the console the page showed, every digest, the same end.
    const node = replaysInNode(file, st);
    const digests = digestsOf(node.stderr);
    const recorded = Number((await page.textContent('#digests'))!.replace(/,/g, ''));
    assert.ok(digests > 10, node.stderr);
    assert.equal(digests, recorded, 'every digest the page recorded is verified by Node');
    assert.match(vmrsOn('inspect', file).stdout, /poweroff/);

    // And the page replays it.
    await page.click('#replay-here-btn');
    await poll(
      async () =>
        (await page.evaluate(() => (globalThis as unknown as Hook).vmrs.mode)) === 'replay',
      'replay mode',
    );
    const again = await settled(page);
    await page.screenshot({ path: join(shots, 'live-4-replayed-here.png') });
    assert.equal(again.state, 'done', again.error ?? '');
    assert.equal(again.icount, st.icount);
    assert.equal(again.digestsVerified, digests);
    assert.equal(again.consoleText, st.consoleText);

    // A second machine, its images carried in the recording, stopped by the page.
    await openOffer(page, url);
    await page.check('#embed-images');
    await page.click('#boot-btn');
    await poll(
      async () => (await statusOf(page)).icount > 30_000_000,
      'the second boot to run',
      120_000,
    );
    await page.click('#stop-btn');
    const stopped = await settled(page, 60_000);
    assert.equal(stopped.state, 'done', stopped.error ?? '');
    const carried = await download(page, mkdtempSync(join(dir, 'embedded-')));
    const info = vmrsOn('inspect', carried).stdout;
    assert.match(info, /embedded/, info);
    replaysInNode(carried, stopped);
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  });
});

test('a live machine with a kernel chosen from disk and its own command line: recorded with that kernel carried, replayed in Node', async (t) => {
  if (!needTools(t, 'chromium')) return;
  const guest = await ensureDefaultGuest({});
  await withLiveOffer(async ({ page, errors, output }) => {
    await page.click('#own-guest summary');
    assert.ok(await page.locator('#own-boot-btn').isDisabled(), 'nothing chosen yet');
    await page.setInputFiles('#own-kernel', guest.kernel);
    const append = `${await page.inputValue('#own-append')} vmrs.own=$((6*7))`;
    await page.fill('#own-append', append);
    await page.screenshot({ path: join(shots, 'live-5-own-kernel.png') });
    await page.click('#own-boot-btn');
    await poll(
      async () => PROMPT.test((await statusOf(page)).consoleText),
      `the shell prompt in the page (${output()})`,
      300_000,
    );
    await page.click('#terminal');
    await page.keyboard.type('cat /proc/cmdline; poweroff -f\n');
    const st = await settled(page, 120_000);
    assert.equal(st.state, 'done', st.error ?? '');
    assert.match(st.consoleText, /vmrs\.own=\$\(\(6\*7\)\)/, 'the command line given');
    const file = await download(page, mkdtempSync(join(dir, 'own-')));
    // The kernel chosen is carried (by its file name and digest); the server's initrd is not.
    const h = readRecordingFile(file).header;
    assert.equal(h.kernel.path, 'Image');
    assert.equal(h.kernel.embedded, true);
    assert.equal(h.initrd?.embedded, false);
    assert.equal(h.machine.append, append);
    replaysInNode(file, st);
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  });
});
