/**
 * The default guest: built on first use from the recipe in guests/default/
 * and cached outside the repository, keyed by a digest of the recipe, so it
 * is rebuilt only when the recipe changes.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  openSync,
  closeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DefaultGuest {
  kernel: string;
  initrd: string;
  vmlinux: string;
  dir: string;
}

export interface EnsureOptions {
  log?: (line: string) => void;
  cacheDir?: string;
  recipeDir?: string;
}

/** guests/default in this checkout (this module compiles to dist/src/host/, and is bundled into dist/). */
export function defaultRecipeDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../..', '..']) {
    const d = resolve(here, up, 'guests/default');
    if (existsSync(join(d, 'build.sh'))) return d;
  }
  throw new Error(`cannot find guests/default/build.sh relative to ${here}`);
}

export function cacheRoot(): string {
  if (process.env.VMRS_CACHE_DIR) return process.env.VMRS_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length ? xdg : join(homedir(), '.cache'), 'vmrs');
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** sha256 over every recipe file's relative path and contents, in sorted order. */
export function recipeDigest(recipeDir: string): string {
  const h = createHash('sha256');
  for (const f of listFiles(recipeDir)) {
    h.update(relative(recipeDir, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

const DONE_MARKER = 'vmrs-guest-complete';

function paths(dir: string): DefaultGuest {
  return {
    dir,
    kernel: join(dir, 'Image'),
    initrd: join(dir, 'initramfs.cpio.gz'),
    vmlinux: join(dir, 'vmlinux'),
  };
}

/** The cached build for this recipe, if complete. */
export function findCachedGuest(
  recipeDir: string,
  cacheDir = cacheRoot(),
): DefaultGuest | undefined {
  const dir = join(cacheDir, 'guests', `default-${recipeDigest(recipeDir).slice(0, 16)}`);
  if (!existsSync(join(dir, DONE_MARKER))) return undefined;
  const p = paths(dir);
  if (!existsSync(p.kernel) || !existsSync(p.initrd)) return undefined;
  return p;
}

function runBuild(
  script: string,
  outDir: string,
  logFile: string,
  log: (s: string) => void,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script, outDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) log(l.replace(/^\[vmrs\] /, ''));
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      writeFileSync(logFile, err);
      if (code === 0) resolvePromise();
      else
        reject(
          new Error(
            `building the default guest failed (see ${logFile}):\n${err.trim().split('\n').slice(-12).join('\n')}`,
          ),
        );
    });
  });
}

/** Build the default guest unless a completed build for this recipe is cached. */
export async function ensureDefaultGuest(opts: EnsureOptions = {}): Promise<DefaultGuest> {
  const log = opts.log ?? (() => {});
  const recipeDir = opts.recipeDir ?? defaultRecipeDir();
  const cacheDir = opts.cacheDir ?? cacheRoot();
  const cached = findCachedGuest(recipeDir, cacheDir);
  if (cached) return cached;
  const digest = recipeDigest(recipeDir).slice(0, 16);
  const guestsDir = join(cacheDir, 'guests');
  mkdirSync(guestsDir, { recursive: true });
  const final = join(guestsDir, `default-${digest}`);
  // One builder at a time per recipe: an exclusive lock file.
  const lock = join(guestsDir, `default-${digest}.lock`);
  let fd: number;
  for (;;) {
    try {
      fd = openSync(lock, 'wx');
      break;
    } catch {
      const again = findCachedGuest(recipeDir, cacheDir);
      if (again) return again;
      // A lock left by a dead process (older than 30 minutes) is taken over.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 30 * 60_000) rmSync(lock, { force: true });
      } catch {
        // gone meanwhile
      }
      log('waiting for another build of the default guest to finish');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    const again = findCachedGuest(recipeDir, cacheDir);
    if (again) return again;
    log(`building the default guest (first use; cached in ${final})`);
    const tmp = `${final}.build`;
    mkdirSync(tmp, { recursive: true });
    await runBuild(
      join(recipeDir, 'build.sh'),
      tmp,
      join(guestsDir, `default-${digest}.stderr.log`),
      log,
    );
    rmSync(join(tmp, 'work'), { recursive: true, force: true });
    writeFileSync(join(tmp, DONE_MARKER), `${digest}\n`);
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    return paths(final);
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
}
