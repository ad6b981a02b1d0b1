/**
 * The web app's tests' frame: `vmrs serve` started and stopped by the test,
 * Debian's Chromium driven by playwright-core, and the page's `window.vmrs`
 * hook read from the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { VMRS_BIN } from './guest-session.js';
import { waitUntil } from './wait.js';

/** What `window.vmrs.status()` returns. */
export interface PageStatus {
  state: string;
  icount: number;
  digestsVerified: number;
  consoleText: string;
  error: string | null;
}

/** `vmrs serve --port 0 [EXTRA…] FILES…`; its base URL. */
export async function serve(
  files: string[],
  extra: string[] = [],
): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [VMRS_BIN, 'serve', '--port', '0', ...extra, ...files], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await waitUntil(
    () => /vmrs serve: (http:\S+)/.test(out),
    `vmrs serve to listen: ${out}`,
    900_000,
  );
  return { url: /vmrs serve: (http:\S+)/.exec(out)![1], child, output: () => out };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new'],
  });
}

/** A page for the app at the size the screenshots use, collecting the errors it throws uncaught. */
export async function newAppPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}

export async function statusOf(page: Page): Promise<PageStatus> {
  return page.evaluate(() =>
    (globalThis as unknown as { vmrs: { status(): PageStatus } }).vmrs.status(),
  );
}

/** Wait until an asynchronous condition holds (`limitMs`, 30 s by default). */
export async function poll(
  cond: () => Promise<boolean>,
  what: string,
  limitMs = 30_000,
): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until the page's machine is over (done, diverged, error); its last status. */
export async function settled(page: Page, limitMs = 600_000): Promise<PageStatus> {
  const t0 = Date.now();
  for (;;) {
    const st = await statusOf(page).catch(() => undefined);
    if (st && ['done', 'diverged', 'error'].includes(st.state)) return st;
    if (Date.now() - t0 > limitMs)
      throw new Error(
        `the page did not finish: ${JSON.stringify({ ...st, consoleText: st?.consoleText.slice(-400) })}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
