/**
 * Drives a `vmrs` process the way a person at the console would: waits for
 * text to appear on its output, types lines, and collects the exit status.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file compiles to dist/test/helpers/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const VMRS_BIN = resolve(REPO_ROOT, 'bin/vmrs');

export class GuestSession {
  readonly child: ChildProcessWithoutNullStreams;
  output = '';
  stderr = '';
  private seen = 0;
  private commands = 0;
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [VMRS_BIN, ...args], { env, stdio: 'pipe' });
    this.child.stdout.on('data', (d: Buffer) => {
      this.output += d.toString('latin1');
      this.notify();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString('latin1');
    });
    this.exited = new Promise((res) => {
      this.child.on('exit', (code, signal) => {
        this.notify();
        res(signal ? null : code);
      });
    });
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Wait until `pattern` matches output that appeared after the previous
   * match; returns the match. `limitMs` is a safety net against a hung guest,
   * not a timing assertion.
   */
  async waitFor(pattern: RegExp, limitMs = 600_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const rest = this.output.slice(this.seen);
      const m = pattern.exec(rest);
      if (m) {
        this.seen += m.index + m[0].length;
        return m;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(
          `vmrs exited (${this.child.exitCode ?? this.child.signalCode}) before ${pattern} appeared.\n` +
            `--- output tail ---\n${this.output.slice(-2000)}\n--- stderr ---\n${this.stderr.slice(-2000)}`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `${pattern} did not appear within ${limitMs} ms.\n--- output tail ---\n${this.output.slice(-2000)}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  type(text: string): void {
    this.child.stdin.write(text);
  }

  /** Run a shell command in the guest and return what it printed (between unique markers). */
  async shell(command: string, limitMs?: number): Promise<string> {
    // Unique within the session: each wait starts after the previous command's end marker.
    const id = 100_000 + this.commands++;
    // The markers are computed by the shell, so the echo of the typed line never matches.
    this.type(`echo BEGIN-$((${id}+1)); ${command}; echo END-$((${id}+1))\n`);
    await this.waitFor(new RegExp(`BEGIN-${id + 1}\\r?\\n`), limitMs);
    const end = new RegExp(`END-${id + 1}\\r?\\n`);
    const start = this.seen;
    await this.waitFor(end, limitMs);
    return this.output.slice(start, this.seen).replace(end, '').replace(/\r/g, '');
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
