/**
 * The hot-code profile of a set of guest images, kept between runs in the
 * vmrs cache directory (hot/<key>.bin): the blocks one run of `vmrs run`,
 * `record` or `replay` compiled, which seed the next run's hot counters
 * (src/cpu/hot-seeds.ts). A second boot of the default guest then
 * interprets about half the instructions the first one did.
 *
 * The key is a SHA-256 of what the boot loader put in RAM (firmware,
 * kernel, initrd, device tree: which holds the command line and the RAM's
 * size), so a changed image or option starts a profile of its own. The
 * profile is a hint and nothing more: a missing, unreadable, damaged or
 * foreign file is ignored, a write that fails leaves the run as it was,
 * and the guest's execution is the same with it or without it (the
 * engines are exact either way). VMRS_NO_HOT_PROFILE=1 neither reads nor
 * writes one (the benchmarks' cold figures).
 *
 *   file = "VMRSHOT\0" u32 version (1), u32 n, n × (u32 offset, u32 fingerprint, u32 flags),
 *          u32 crc32 of everything before it
 */
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheRoot } from './default-guest.js';
import { crc32 } from '../replay/crc32.js';
import { HotSeeds, MAX_SEEDS } from '../cpu/hot-seeds.js';
import type { VirtMachine } from '../machine/virt.js';

const MAGIC = 'VMRSHOT\0';
const VERSION = 1;
const HEAD = 16;
/** Profiles kept at most (one per set of images); the least recently written go first. */
const MAX_PROFILES = 64;

/** Profiles are off for this process (VMRS_NO_HOT_PROFILE=1). */
export const hotProfileOff = (): boolean => !!process.env.VMRS_NO_HOT_PROFILE;

/** The profile's key for a machine just built (before it runs): what its images loaded. */
export function hotProfileKey(vm: VirtMachine): string {
  const h = createHash('sha256');
  const size = new Uint32Array([VERSION, vm.bus.ram8.length]);
  h.update(new Uint8Array(size.buffer));
  for (const s of vm.loaded.spans) {
    h.update(new Uint8Array(new Uint32Array([s.off, s.bytes.length]).buffer));
    h.update(s.bytes);
  }
  return h.digest('hex').slice(0, 32);
}

export const hotProfilePath = (key: string): string => join(cacheRoot(), 'hot', `${key}.bin`);

/** The file's bytes for these (offset, fingerprint, flags) triples. */
export function encodeHotProfile(triples: Uint32Array): Uint8Array {
  const n = Math.floor(triples.length / 3);
  const out = new Uint8Array(HEAD + n * 12 + 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, n, true);
  for (let i = 0; i < n * 3; i++) dv.setUint32(HEAD + 4 * i, triples[i], true);
  dv.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** The triples in a profile file's bytes, or undefined for anything but a whole, sound file. */
export function decodeHotProfile(bytes: Uint8Array): Uint32Array | undefined {
  if (bytes.length < HEAD + 4) return undefined;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(12, true);
  if (dv.getUint32(8, true) !== VERSION || n > MAX_SEEDS || bytes.length !== HEAD + n * 12 + 4)
    return undefined;
  if (dv.getUint32(bytes.length - 4, true) !== crc32(bytes.subarray(0, bytes.length - 4)))
    return undefined;
  const t = new Uint32Array(n * 3);
  for (let i = 0; i < n * 3; i++) t[i] = dv.getUint32(HEAD + 4 * i, true);
  return t;
}

/** The triples in the file at `path`; undefined for none, an unreadable one or a damaged one. */
function readTriples(path: string): Uint32Array | undefined {
  try {
    return decodeHotProfile(readFileSync(path));
  } catch {
    return undefined; // none yet, or unreadable: the run goes as a first one
  }
}

/** The seeds of `vm`'s images' profile, read only (a verifying worker's: it never writes one). */
export function readHotSeeds(vm: VirtMachine): HotSeeds | undefined {
  if (hotProfileOff()) return undefined;
  const triples = readTriples(hotProfilePath(hotProfileKey(vm)));
  return triples && new HotSeeds(triples, vm.bus.ram8.length);
}

/** A machine's profile: seeded from the file now, written back by save() after the run. */
export class HotProfile {
  /** Blocks in the file as this run found it. */
  private before = 0;

  private constructor(
    private readonly vm: VirtMachine,
    private readonly path: string,
  ) {}

  /** Seed `vm`'s code cache from its images' profile, if there is one; undefined when profiles are off. */
  static open(vm: VirtMachine): HotProfile | undefined {
    if (hotProfileOff()) return undefined;
    const profile = new HotProfile(vm, hotProfilePath(hotProfileKey(vm)));
    const triples = readTriples(profile.path);
    if (triples) new HotSeeds(triples, vm.bus.ram8.length).apply(vm.cpu.code);
    profile.before = triples ? triples.length / 3 : 0;
    return profile;
  }

  /**
   * Write what this run compiled, for the next one. Only this run's: the
   * blocks of other sessions (another workload's kernel paths) would be
   * compiled at their first visit next time, hot or not (a profile merged
   * over a day's runs, 20,000 seeds, had a boot compile 2,979 regions
   * instead of 2,242). But a run that compiled less than half of what the
   * file holds (one started from a snapshot or a late checkpoint, or
   * stopped early) leaves it as it was.
   */
  save(): void {
    const log = this.vm.cpu.code.compiledLog;
    if (log.size === 0 || log.size * 2 < this.before) return;
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(tmp, encodeHotProfile(log.triples()));
      renameSync(tmp, this.path);
      pruneProfiles(dirname(this.path));
    } catch {
      // A read-only or full cache: the next run starts cold, as without profiles.
      try {
        unlinkSync(tmp);
      } catch {
        // never made
      }
    }
  }
}

/** Delete the least recently written profiles in `dir` past `keep` (images tried once, test runs' own). */
export function pruneProfiles(dir: string, keep = MAX_PROFILES): void {
  const names = readdirSync(dir).filter((n) => n.endsWith('.bin'));
  if (names.length <= keep) return;
  const byAge = names
    .map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => a.t - b.t);
  for (const { n } of byAge.slice(0, names.length - keep)) unlinkSync(join(dir, n));
}
