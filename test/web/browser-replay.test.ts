/**
 * The browser app in a real browser: Debian's Chromium driven by
 * playwright-core, the page served by `vmrs serve`. A recording of the
 * default guest made in Node replays in the page with the same console
 * bytes and every state digest verified; a damaged copy never ends `done`,
 * and a well-formed copy that replays differently ends `diverged` where Node
 * finds it;
 * seeking lands on the icount asked; the timeline's guest time (from the
 * idle jumps in the log) is the machine's clock, at the end and at an
 * icount sought, and it lays the recording out by guest time on a click.
 * Screenshots of the main steps go to $VMRS_SCREENSHOTS (default: a
 * temporary directory, printed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openReplay } from '../../src/cli/open-replay.js';
import { crc32 } from '../../src/replay/crc32.js';
import { EventType } from '../../src/replay/events.js';
import { allEvents } from '../../src/replay/log-format.js';
import { recordSession, replayFile, vmrsOn } from '../helpers/recording.js';
import { needTools } from '../helpers/tools.js';
import { launchChromium, newAppPage, poll, serve, settled, statusOf } from '../helpers/web-page.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-web-'));
const shots = process.env.VMRS_SCREENSHOTS ?? join(dir, 'screenshots');
mkdirSync(shots, { recursive: true });

/** What the page's timeline says (window.vmrs.timeline()). */
interface TimelineInfo {
  lastIcount: number;
  ms: number;
  tracks: { name: string; count: number }[];
  guestSeconds: number;
  cursorGuestSeconds: number;
  xAxis: string;
}

/** A copy of recording `bytes` with its JSON header changed by `edit` (length and checksum mended; log-format.ts). */
function withHeader(bytes: Buffer, edit: (h: Record<string, unknown>) => void): Buffer {
  const len = bytes.readUInt32LE(12);
  const h = JSON.parse(bytes.subarray(16, 16 + len).toString('utf8')) as Record<string, unknown>;
  edit(h);
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const head = Buffer.from(bytes.subarray(0, 16));
  head.writeUInt32LE(json.length, 12);
  const sum = Buffer.alloc(4);
  sum.writeUInt32LE(crc32(json) >>> 0, 0);
  return Buffer.concat([head, json, sum, bytes.subarray(16 + len + 4)]);
}

async function timelineOf(page: Page): Promise<TimelineInfo | null> {
  return page.evaluate(() =>
    (globalThis as unknown as { vmrs: { timeline(): TimelineInfo | null } }).vmrs.timeline(),
  );
}

test('a recording made in Node replays in Chromium: the same console bytes, every digest verified; damage is never done; seek lands', async (t) => {
  if (!needTools(t, 'chromium')) return;
  const { file } = await recordSession(join(dir, 'web.vmrs'), [], async (vm) => {
    // The sleep: a second of idle guest time, skipped by idle jumps.
    await vm.shell('echo hello-from-node-$((6*7)); sleep 1; uname -r');
  });
  const node = replayFile(file);
  assert.equal(node.status, 0, node.stderr);
  const digests = Number(/(\d+) state digests verified/.exec(node.stderr)![1]);
  const last = Number(/^guest\s+(\d+) instructions/m.exec(vmrsOn('inspect', file).stdout)![1]);
  // Guest time at the end, from the machine's own clock after a replay in Node (ticks of 10 MHz).
  const ref = openReplay(file, { verify: false, log: () => {}, stdout: () => {} });
  assert.equal(ref.replayer.runTo(Number.MAX_SAFE_INTEGER).state, 'done');
  assert.equal(ref.vm.cpu.icount, last);
  const endTicks = ref.vm.now();
  const insnsPerTick = ref.rec.header.machine.insnsPerTick;
  const digestIcounts = allEvents(ref.rec)
    .filter((e) => e.type === EventType.Digest)
    .map((e) => e.icount);
  ref.close();

  // A copy with a byte flipped in the middle of its events.
  const bytes = readFileSync(file);
  const damaged = join(dir, 'damaged.vmrs');
  bytes[Math.floor(bytes.length * 0.6)] ^= 0x40;
  writeFileSync(damaged, bytes);
  // A whole, well-formed copy that replays differently: its header says the real-time clock
  // started a year later (checksum mended). The guest reads the RTC, so its state digests differ.
  const shifted = join(dir, 'shifted.vmrs');
  writeFileSync(
    shifted,
    withHeader(readFileSync(file), (h) => {
      const m = h.machine as { rtcStartUnixNs: number };
      m.rtcStartUnixNs += 365 * 86400e9;
    }),
  );
  const nodeShifted = replayFile(shifted);
  const divergedAt = /replay diverged at icount (\d+)/.exec(nodeShifted.stderr);
  assert.ok(divergedAt, `Node finds the divergence: ${nodeShifted.stderr.slice(-600)}`);
  const { url, child } = await serve([file, damaged, shifted]);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, errors } = await newAppPage(browser);

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

    // Guest time at the end as the timeline maps it (from the idle jumps in the log) is the
    // machine's; idle time is part of it (the map is not icount / insnsPerTick alone).
    const tlEnd = await timelineOf(page);
    assert.ok(tlEnd);
    assert.ok((tlEnd.tracks.find((x) => x.name === 'idle jumps')?.count ?? 0) > 0, 'idle jumps');
    assert.equal(Math.round(tlEnd.guestSeconds * 1e7), endTicks, 'guest time at the end');
    assert.equal(Math.round(tlEnd.cursorGuestSeconds * 1e7), endTicks, 'at the cursor (the end)');
    assert.ok(endTicks - Math.floor(last / insnsPerTick) >= 0.9e7, 'the idle second counts');
    process.stderr.write(
      `guest time at the end: ${(endTicks / 1e7).toFixed(7)} s (${(Math.floor(last / insnsPerTick) / 1e7).toFixed(3)} s running)\n`,
    );

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
    // The keys: → and ← step one instruction; shift+→ goes to the next event of the kind chosen.
    await page.keyboard.press('ArrowRight');
    await poll(async () => (await statusOf(page)).icount === clicked + 1, '→ to step forward');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await poll(async () => (await statusOf(page)).icount === clicked - 1, '← twice to step back');
    await page.selectOption('#event-kind', { label: `digests (${digests})` });
    await page.locator('#event-kind').blur();
    await page.keyboard.press('Shift+ArrowRight');
    // The recording's own digests: the recorder spreads them out where the guest runs fast
    // (digest-spacing.ts, by host time), so not every multiple of the interval has one.
    const nextDigest = digestIcounts.find((i) => i > clicked - 1);
    assert.ok(nextDigest !== undefined, 'a digest after the click');
    await poll(
      async () => (await statusOf(page)).icount === nextDigest,
      `shift+→ to reach the next digest at ${nextDigest}`,
    );
    await page.mouse.click(box.x + box.width * 0.62, box.y + 30);
    await poll(async () => (await statusOf(page)).icount === clicked, 'back to the click');
    await page.mouse.move(box.x + box.width * 0.4, box.y + 30);
    await page.screenshot({ path: join(shots, '4-timeline.png') });

    // The guest-time axis under the tracks (hovered there), then the x axis laid out by guest
    // time (a click on an axis name) and back.
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height - 24);
    await page
      .locator('#timeline-box')
      .screenshot({ path: join(shots, '7-timeline-guest-time.png') });
    await page.mouse.click(box.x + 40, box.y + 10);
    assert.equal((await timelineOf(page))?.xAxis, 'guest time');
    await page.mouse.move(box.x + box.width * 0.3, box.y + 30);
    await page
      .locator('#timeline-box')
      .screenshot({ path: join(shots, '8-timeline-by-guest-time.png') });
    // A click there still goes to an icount of the recording.
    await page.mouse.click(box.x + box.width * 0.5, box.y + 30);
    await poll(async () => (await hook()) !== clicked, 'the click to seek (by guest time)');
    const byTime = (await hook())!;
    assert.ok(byTime > 0 && byTime < last, String(byTime));
    await poll(
      async () => (await statusOf(page)).icount === byTime,
      'the replay to reach the icount clicked by guest time',
    );
    await page.mouse.click(box.x + 40, box.y + 10);
    assert.equal((await timelineOf(page))?.xAxis, 'icount');

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
              insn: string | null;
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
    // Guest time at N on the timeline is what vmrs replay --to N prints.
    const guest = /guest time (\d+\.\d{7}) s/.exec(cli);
    assert.ok(guest, cli);
    assert.equal(
      (await timelineOf(page))?.cursorGuestSeconds.toFixed(7),
      guest[1],
      'guest time at N',
    );
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
    // The instruction at pc, disassembled as vmrs replay --to prints it.
    const next = /^\s+next (.+?) {2}\(([0-9a-f]+)\)$/m.exec(cli);
    assert.ok(next, cli);
    assert.equal(regs.insn, next[1]);
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

    const { page: bad } = await newAppPage(browser);
    await bad.goto(`${url}?replay=damaged.vmrs`);
    const bst = await settled(bad);
    await bad.screenshot({ path: join(shots, '3-damaged.png') });
    assert.ok(bst.state === 'diverged' || bst.state === 'error', bst.state);
    assert.ok(bst.error && bst.error.length > 0, 'what went wrong is said');

    // Diverged, not merely failed: at the icount Node finds, and what differs is shown.
    const { page: div } = await newAppPage(browser);
    await div.goto(`${url}?replay=shifted.vmrs`);
    const dst = await settled(div);
    assert.equal(dst.state, 'diverged', dst.error ?? '');
    assert.equal(dst.icount, Number(divergedAt[1]));
    assert.match(dst.error ?? '', new RegExp(`diverged at icount ${divergedAt[1]}\\b`));
    await div.locator('#problem-details').filter({ hasText: 'goldfish-rtc' }).waitFor();
    await div.screenshot({ path: join(shots, '3b-diverged.png') });
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    process.stderr.write(`screenshots in ${shots}\n`);
  } finally {
    await browser?.close();
    child.kill();
  }
});
