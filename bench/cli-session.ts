/**
 * Drives the `vmrs` command as a user would for benchmarks: start it, wait
 * for text on its console, type, time the stretches in between.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Run as an executable, as a user runs it: its shell line sizes V8's pool (src/host/v8-pool.ts). */
export const VMRS = resolve(REPO_ROOT, 'bin/vmrs');
export const PROMPT = /[#$] $/;

export interface Step {
  /** Wait for this on the console (after the previous step's match)... */
  waitFor: RegExp;
  /** ...then type this (undefined: nothing). */
  send?: string;
  /** Wait this long (real time) before typing. */
  pauseMs?: number;
  /** Name this moment: the time it was reached goes into `marks`. */
  mark?: string;
}

export interface SessionResult {
  wallSeconds: number;
  output: string;
  status: number | null;
  stderr: string;
  /** Seconds from start to each named step's match. */
  marks: Record<string, number>;
}

export function runVmrs(
  args: string[],
  steps: Step[] = [],
  limitMs = 900_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SessionResult> {
  return runSession(VMRS, args, steps, limitMs, env);
}

/** Any program with a console on stdio (QEMU too), driven by `steps` as runVmrs drives vmrs. */
export function runSession(
  command: string,
  args: string[],
  steps: Step[] = [],
  limitMs = 900_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SessionResult> {
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: 'pipe', env });
    let output = '';
    let stderr = '';
    let seen = 0;
    let step = 0;
    const marks: Record<string, number> = {};
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${command} ${args.join(' ')} did not finish; output tail:\n${output.slice(-1000)}`,
        ),
      );
    }, limitMs);
    const advance = () => {
      while (step < steps.length) {
        const s = steps[step];
        const m = s.waitFor.exec(output.slice(seen));
        if (!m) return;
        seen += m.index + m[0].length;
        if (s.mark) marks[s.mark] = (performance.now() - t0) / 1000;
        step++;
        if (s.send !== undefined) {
          const text = s.send;
          if (s.pauseMs) {
            // Later steps wait for output that this input causes.
            setTimeout(() => child.stdin.write(text), s.pauseMs);
            return;
          }
          child.stdin.write(text);
        }
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('latin1');
      advance();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({
        wallSeconds: (performance.now() - t0) / 1000,
        output,
        status: code,
        stderr,
        marks,
      });
    });
  });
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

/** "median (min–max)" with `digits` decimals, each followed by `unit`. */
export function spread(xs: number[], digits = 1, unit = ''): string {
  return `${fmt(median(xs), digits)}${unit} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
}
