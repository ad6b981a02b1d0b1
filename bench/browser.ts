/**
 * The web app's figures, in Chromium (Debian's, driven by playwright-core)
 * against Node on the same recording:
 *   - replay speed: the page's average MIPS, translate and interp engines,
 *     against `vmrs replay` (its own replay time, from its summary line);
 *   - opening: until the timeline shows, and until the machine is built;
 *   - seeks in the page (back to a few points, forwards);
 *   - a live boot in the page to the shell prompt.
 *   npm run bench -- --only browser [--rounds N]
 * Rounds are interleaved (page, Node, page, ...); medians and ranges.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROMPT, VMRS, runVmrs, spread } from './cli-session.js';

const CHROMIUM = '/usr/bin/chromium';

interface Hook {
  vmrs: {
    status(): { state: string; icount: number; consoleText: string };
    seek(i: number): Promise<{ ms: number; icount: number }>;
    timeline(): { ms: number } | null;
  };
}

async function serve(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(VMRS, ['serve', '--port', '0', '-q', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const t0 = Date.now();
  while (!/vmrs serve: (http:\S+)/.test(out)) {
    if (Date.now() - t0 > 60_000) throw new Error(`vmrs serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: /vmrs serve: (http:\S+)/.exec(out)![1], child };
}

async function waitFor<T>(
  page: Page,
  f: () => T | null | false,
  what: string,
  limitMs = 600_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await page.evaluate(f);
    if (v) return v as T;
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One replay in the page: its average MIPS, open and timeline times, and seek times. */
async function pageReplay(
  browser: Browser,
  url: string,
  name: string,
  engine: string,
  seeks: boolean,
): Promise<{ mips: number; openMs: number; timelineMs: number; seekMs: number[] }> {
  const page = await browser.newPage();
  try {
    const t0 = performance.now();
    await page.goto(`${url}?replay=${encodeURIComponent(name)}&engine=${engine}`);
    await waitFor(page, () => (globalThis as unknown as Hook).vmrs.timeline() !== null, 'timeline');
    const timelineMs = performance.now() - t0;
    const done = await waitFor(
      page,
      () => {
        const s = (globalThis as unknown as Hook).vmrs.status();
        return ['done', 'error', 'diverged'].includes(s.state) ? s : null;
      },
      'the replay',
    );
    if (done.state !== 'done') throw new Error(`the page's replay ended ${done.state}`);
    const mipsText = (await page.textContent('#mips')) ?? '';
    const openText = (await page.textContent('#status-msg')) ?? '';
    const mips = Number(/([\d.]+)/.exec(mipsText)?.[1]);
    const openMs = Number(/opened in (\d+) ms/.exec(openText)?.[1]);
    const seekMs: number[] = [];
    if (seeks)
      for (const frac of [0.5, 0.1, 0.9, 0.3, 0.7]) {
        const r = await page.evaluate(
          (i) => (globalThis as unknown as Hook).vmrs.seek(i),
          Math.floor(done.icount * frac),
        );
        seekMs.push(r.ms);
      }
    return { mips, openMs, timelineMs, seekMs };
  } finally {
    await page.close();
  }
}

/** `vmrs replay`'s own speed on the file (from its summary: N instructions in S s). */
function nodeReplayMips(file: string): number {
  const r = spawnSync(VMRS, ['replay', file], { encoding: 'utf8' });
  const m = /replay complete: (\d+) instructions in ([\d.]+) s/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`vmrs replay failed: ${r.stderr.slice(-400)}`);
  return Number(m[1]) / Number(m[2]) / 1e6;
}

async function liveBoot(browser: Browser, url: string): Promise<number> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.locator('#boot-btn').waitFor({ state: 'visible' });
    const t0 = performance.now();
    await page.click('#boot-btn');
    await waitFor(
      page,
      () => /[#$] $/m.test((globalThis as unknown as Hook).vmrs.status().consoleText),
      'the prompt',
    );
    return (performance.now() - t0) / 1000;
  } finally {
    await page.close();
  }
}

export async function benchBrowser(rounds: number): Promise<void> {
  console.log('\n## In the browser (Chromium against Node, the same recording)\n');
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-bench-web-'));
  const file = join(dir, 'boot.vmrs');
  const rec = await runVmrs(
    ['record', '-q', '-o', file],
    [
      { waitFor: PROMPT, send: 'echo BENCH-$((6*7))\n' },
      { waitFor: /BENCH-42/, send: 'poweroff -f\n' },
    ],
  );
  if (rec.status !== 0) throw new Error(`vmrs record failed: ${rec.stderr}`);
  const { url, child } = await serve(['--live', file]);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless=new'],
  });
  try {
    const node: number[] = [];
    const translate: number[] = [];
    const interp: number[] = [];
    const open: number[] = [];
    const timeline: number[] = [];
    const seek: number[] = [];
    const live: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t = await pageReplay(browser, url, 'boot.vmrs', 'translate', true);
      translate.push(t.mips);
      open.push(t.openMs);
      timeline.push(t.timelineMs);
      seek.push(...t.seekMs);
      node.push(nodeReplayMips(file));
      interp.push((await pageReplay(browser, url, 'boot.vmrs', 'interp', false)).mips);
      live.push(await liveBoot(browser, url));
    }
    console.log(`recording: a boot of the default guest, a command, poweroff; ${rounds} rounds`);
    console.log(`replay, vmrs replay (Node)      ${spread(node)} MIPS`);
    console.log(`replay, Chromium (translate)    ${spread(translate)} MIPS`);
    console.log(`replay, Chromium (interp)       ${spread(interp)} MIPS`);
    console.log(`open to timeline shown          ${spread(timeline, 0)} ms`);
    console.log(`open to machine built           ${spread(open, 0)} ms`);
    console.log(`seek in the page (5 per round)  ${spread(seek, 0)} ms`);
    console.log(`live boot in the page to prompt ${spread(live, 2)} s`);
  } finally {
    await browser.close();
    child.kill();
  }
}
