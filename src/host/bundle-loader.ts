/**
 * Runs the CLI bundle (dist/bundle/main.cjs, one CommonJS file) with V8's
 * code cache, as bin/vmrs does. Parsing and compiling the 0.9 MB bundle
 * took 30–40 ms of every start, and the functions a run compiles lazily as
 * it goes more; Node 20 has no compile cache for modules (22 has), but a
 * `vm.Script` takes V8's `cachedData`. The cache sits beside the bundle
 * (`main.cjs.v8-cache`), written at the end of a process that found none it
 * could use, with every function that process compiled. One made by `vmrs
 * --version` (350 KB) served a run as well as one made by a run (580 KB):
 * V8 deserializes all of a cache at once, so more is not better.
 *
 * V8 checks its version, flags and the source's length against the cache,
 * not the source's content: a rebuilt bundle of the same length would get
 * the old bytecode. So the cache also names the bundle's file (identityKey:
 * device, inode, size, times) and is used only for that file. V8's flags are set
 * before the bundle is compiled (host/wasm-tiering.ts): a cache made after
 * they changed would not match a new process's flags.
 *
 * The compressed-instruction table (src/cpu/rvc.ts: 65,536 expansions, 12-26
 * ms of every start in code V8 has not compiled yet) is kept the same way,
 * in `main.cjs.rvc-table` under the same key and with its CRC-32: handed to
 * the bundle before it runs (cpu/rvc-handover.ts), which checks it again
 * against its own expander, and written at the end of a process that had
 * none.
 */
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { dirname, join } from 'node:path';
import { tuneWasmTiering } from './wasm-tiering.js';
import { provideDynamicImport } from './dynamic-import.js';
import { ImageFile, identityKey } from './image-file.js';
import { RVC_ENTRIES, RVC_TABLE_GLOBAL } from '../cpu/rvc-handover.js';

/** The cache file's data, if it was made for `key` (bundleKey). */
export function readCodeCache(path: string, key: string): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  const nl = bytes.indexOf(10);
  if (nl < 0) return undefined;
  try {
    const head = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as { key?: unknown };
    return head.key === key ? bytes.subarray(nl + 1) : undefined;
  } catch {
    return undefined;
  }
}

/** zlib's CRC-32 (Node 20.15 and later; without it, no table is kept). */
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** The table kept in `path` for `key` (bundleKey), if whole: its length and CRC-32 right. */
export function readRvcTable(path: string, key: string): Int32Array | undefined {
  if (!crc32) return undefined;
  const data = readCodeCache(path, key);
  if (data === undefined || data.length !== 4 * RVC_ENTRIES + 4) return undefined;
  const table = new Int32Array(RVC_ENTRIES);
  // Copied: the bytes after the key's line are not 4-byte aligned.
  new Uint8Array(table.buffer).set(data.subarray(4));
  return data.readUInt32LE(0) === crc32(new Uint8Array(table.buffer)) ? table : undefined;
}

/** Keep `table` in `path` for `key`, with its CRC-32 (whole or not at all, as the code cache). */
export function writeRvcTable(path: string, key: string, table: Int32Array): void {
  if (!crc32 || table.length !== RVC_ENTRIES) return;
  const bytes = new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(crc32(bytes) >>> 0, 0);
  writeCodeCache(path, key, Buffer.concat([head, bytes]));
}

/** Write the cache whole or not at all (other processes may read it meanwhile); a failure is not an error. */
export function writeCodeCache(path: string, key: string, data: Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${JSON.stringify({ key })}\n`), data]));
    renameSync(tmp, path);
  } catch {
    // A read-only install: every start compiles, as without a cache.
  }
}

/** The CLI bundle in a `dist` directory. */
export const bundleIn = (dist: string): string => join(dist, 'bundle', 'main.cjs');

/**
 * Whether `dist`'s bundle holds the last compile: bin/vmrs runs it only then
 * (`npx tsc -p .` alone leaves it stale, and the compiled modules, loaded one
 * by one, start about 0.1 s slower), and the bench says when it is not.
 */
export function bundleIsCurrent(dist: string): boolean {
  const mtime = (path: string) => {
    try {
      return statSync(path).mtimeMs;
    } catch {
      return -1;
    }
  };
  const bundle = mtime(bundleIn(dist));
  return bundle >= 0 && bundle >= mtime(join(dist, '.tsbuildinfo'));
}

/** What names the bundle's file as it is now, and the V8 that reads the cache. */
export function bundleKey(file: string): string {
  const img = ImageFile.open(file, 'the CLI bundle');
  img.close();
  return `${process.version} ${process.arch} ${identityKey(img.identity)}`;
}

/**
 * Run the CommonJS file `file` as Node's loader would (its own require,
 * module, __filename), through V8's code cache. Returns whether a cache was
 * used.
 */
export function runBundle(file: string): boolean {
  tuneWasmTiering();
  // import() from functions the cache restored fails in Node 20: the bundle imports through this module's.
  provideDynamicImport((specifier) => import(specifier));
  const key = bundleKey(file);
  const source = readFileSync(file, 'utf8');
  const cacheFile = `${file}.v8-cache`;
  const cached = readCodeCache(cacheFile, key);
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    {
      filename: file,
      cachedData: cached,
    },
  );
  const used = cached !== undefined && !script.cachedDataRejected;
  if (!used)
    // At the end: the cache then holds every function this process compiled.
    process.once('exit', () => writeCodeCache(cacheFile, key, script.createCachedData()));
  const tableFile = `${file}.rvc-table`;
  const g = globalThis as Record<string, unknown>;
  const table = readRvcTable(tableFile, key);
  g[RVC_TABLE_GLOBAL] = table;
  process.once('exit', () => {
    // What the bundle made, when it did not take this one (a bundle that never loaded rvc.ts
    // left nothing; one that refused the table made its own).
    const made = g[RVC_TABLE_GLOBAL];
    if (made instanceof Int32Array && made !== table) writeRvcTable(tableFile, key, made);
  });
  const run = script.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} };
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return used;
}
