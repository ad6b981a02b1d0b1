/**
 * The browser app in a real browser: Debian's Chromium driven by
 * playwright-core, the page served by `vmrs serve`. A recording of the
 * default guest made in Node replays in the page with the same console
 * bytes and every state digest verified; a damaged copy never ends `done`;
 * seeking lands on the icount asked. Screenshots of the main steps go to
 * $VMRS_SCREENSHOTS (default: a temporary directory, printed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { recordSession, replayFile, vmrsOn } from '../helpers/recording.js';
import { needTools } from '../helpers/tools.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-web-'));
const shots = process.env.VMRS_SCREENSHOTS ?? join(dir, 'screenshots');
mkdirSync(shots, { recursive: true });

interface Status {
  state: string;
  icount: number;
  digestsVerified: number;
  consoleText: string;
  error: string | null;
}

/** `vmrs serve --port 0 FILES…`; its base URL. */
async function serve(files: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [VMRS_BIN, 'serve', '--port', '0', ...files], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await waitUntil(() => /vmrs serve: (http:\S+)/.test(out), `vmrs serve to listen: ${out}`);
  return { url: /vmrs serve: (http:\S+)/.exec(out)![1], child };
}

async function statusOf(page: Page): Promise<Status> {
  return page.evaluate(() =>
    (globalThis as unknown as { vmrs: { status(): Status } }).vmrs.status(),
  );
}

/** Wait until an asynchronous condition holds (30 s at most). */
async function poll(cond: () => Promise<boolean>, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > 30_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until the page's replay is over (done, diverged, error); its last status. */
async function settled(page: Page, limitMs = 600_000): Promise<Status> {
  const t0 = Date.now();
  for (;;) {
    const st = await statusOf(page).catch(() => undefined);
    if (st && ['done', 'diverged', 'error'].includes(st.state)) return st;
    if (Date.now() - t0 > limitMs)
      throw new Error(`the page did not finish: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a recording made in Node replays in Chromium: the same console bytes, every digest verified; damage is never done; seek lands', async (t) => {
  if (!needTools(t, 'chromium')) return;
  const { file } = await recordSession(join(dir, 'web.vmrs'), [], async (vm) => {
    await vm.shell('echo hello-from-node-$((6*7)); uname -r');
  });
  const node = replayFile(file);
  assert.equal(node.status, 0, node.stderr);
  const digests = Number(/(\d+) state digests verified/.exec(node.stderr)![1]);
  const last = Number(/^guest\s+(\d+) instructions/m.exec(vmrsOn('inspect', file).stdout)![1]);

  // A copy with a byte flipped in the middle of its events.
  const bytes = readFileSync(file);
  const damaged = join(dir, 'damaged.vmrs');
  bytes[Math.floor(bytes.length * 0.6)] ^= 0x40;
  writeFileSync(damaged, bytes);
  const { url, child } = await serve([file, damaged]);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless=new'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    await page.goto(`${url}?replay=web.vmrs`);
    const st = await settled(page);
    await page.screenshot({ path: join(shots, '1-replayed.png') });
    assert.equal(st.state, 'done', JSON.stringify({ ...st, consoleText: undefined }));
    assert.equal(st.error, null);
    assert.equal(st.icount, last);
    assert.equal(st.digestsVerified, digests);
    // Node's stdout was read as latin1: compare bytes.
    assert.equal(
      Buffer.from(st.consoleText, 'utf8').toString('latin1'),
      node.stdout,
      'the console bytes are those of vmrs replay',
    );
    assert.match(st.consoleText, /hello-from-node-42/);

    // Seek back into the run: the machine is there, paused.
    const target = Math.floor(last / 3);
    await page.evaluate(
      (i) => (globalThis as unknown as { vmrs: { seek(i: number): Promise<void> } }).vmrs.seek(i),
      target,
    );
    const at = await statusOf(page);
    assert.equal(at.icount, target);
    assert.equal(at.state, 'paused');
    await page.screenshot({ path: join(shots, '2-seeked.png') });

    // The timeline: its events came, with every digest the replay verified.
    const tl = await page.evaluate(() =>
      (
        globalThis as unknown as {
          vmrs: { timeline(): { ms: number; tracks: { name: string; count: number }[] } | null };
        }
      ).vmrs.timeline(),
    );
    assert.ok(tl, 'the timeline has its events');
    const count = (name: string) => tl.tracks.find((x) => x.name === name)?.count;
    assert.equal(count('digests'), digests, 'the timeline lists every digest');
    assert.equal(count('end'), 1);
    assert.ok((count('console in') ?? 0) > 0, 'the typed commands are on the timeline');
    process.stderr.write(`timeline shown ${tl.ms.toFixed(0)} ms after the open began\n`);
    const box = await page.locator('#timeline').boundingBox();
    assert.ok(box && box.width > 300 && box.height > 60, JSON.stringify(box));

    // A click on the timeline goes where the page says the click maps to.
    const before = (await statusOf(page)).icount;
    await page.mouse.click(box.x + box.width * 0.62, box.y + 30);
    const hook = () =>
      page.evaluate(() => {
        const v = (globalThis as unknown as { vmrs: { lastTimelineSeek: number | null } }).vmrs;
        return v.lastTimelineSeek;
      });
    await poll(async () => (await hook()) !== null, 'the click to seek');
    const clicked = (await hook())!;
    await poll(
      async () => (await statusOf(page)).icount === clicked,
      'the replay to reach the clicked icount',
    );
    const afterClick = await statusOf(page);
    assert.notEqual(afterClick.icount, before);
    assert.equal(afterClick.icount, clicked);
    assert.ok(clicked > 0 && clicked < last, String(clicked));
    await page.mouse.move(box.x + box.width * 0.4, box.y + 30);
    await page.screenshot({ path: join(shots, '4-timeline.png') });

    // The registers shown at N are those vmrs replay --to N prints.
    const n = Math.floor(last * 0.45) + 777;
    await page.evaluate(
      (i) => (globalThis as unknown as { vmrs: { seek(i: number): Promise<void> } }).vmrs.seek(i),
      n,
    );
    const regs = await page.evaluate(() =>
      (
        globalThis as unknown as {
          vmrs: {
            registers(): {
              icount: number;
              pc: string;
              priv: string;
              x: string[];
              csrs: Record<string, string>;
            } | null;
          };
        }
      ).vmrs.registers(),
    );
    assert.ok(regs);
    assert.equal(regs.icount, n);
    const cli = replayFile(file, ['--to', String(n)]).stderr;
    const head = /icount (\d+)\s+pc 0x([0-9a-f]{16})\s+privilege (\w)/.exec(cli);
    assert.ok(head, cli);
    assert.equal(Number(head[1]), n);
    assert.equal(regs.pc, head[2]);
    assert.equal(regs.priv, head[3]);
    for (let i = 0; i < 32; i++) {
      const m = new RegExp(`x${i}/\\S+ 0x([0-9a-f]{16})`).exec(cli);
      assert.ok(m, `x${i} in ${cli}`);
      assert.equal(regs.x[i], m[1], `x${i}`);
    }
    let csrsSeen = 0;
    for (const m of cli.matchAll(
      /\b(mstatus|mepc|mcause|sstatus|sepc|scause|stval|satp) (0x[0-9a-f]{16}|-)/g,
    )) {
      assert.equal(regs.csrs[m[1]] ?? '-', m[2] === '-' ? '-' : m[2].slice(2), m[1]);
      csrsSeen++;
    }
    assert.equal(csrsSeen, 8, cli);
    await page
      .locator('#m-at')
      .filter({ hasText: n.toLocaleString('en-US') })
      .waitFor();
    await page.screenshot({ path: join(shots, '5-machine.png') });
    // The memory view at sp, below the registers.
    await page.click('#mem-sp');
    await page.locator('#mem .a').first().waitFor();
    await page.locator('#mem').scrollIntoViewIfNeeded();
    await page.locator('#machine').screenshot({ path: join(shots, '6-memory.png') });

    const bad = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await bad.goto(`${url}?replay=damaged.vmrs`);
    const bst = await settled(bad);
    await bad.screenshot({ path: join(shots, '3-damaged.png') });
    assert.ok(bst.state === 'diverged' || bst.state === 'error', bst.state);
    assert.ok(bst.error && bst.error.length > 0, 'what went wrong is said');
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    process.stderr.write(`screenshots in ${shots}\n`);
  } finally {
    await browser?.close();
    child.kill();
  }
});
