/**
 * What differs between a recorded and a replayed machine, in words a person
 * can act on: the device and field with both values ("virtio-net@slot 2:
 * queue 0 lastAvail recorded 17, replayed 18"), the hart's registers and
 * CSRs by name, RAM by page.
 */
import { CSR } from '../cpu/csr-numbers.js';
import { hex64 } from './hex.js';
import { LEAF_HASH, type Leaves } from './state-leaves.js';

/** Lines of field differences listed before "and N more". */
const MAX_FIELDS = 24;
/** Runs of pages listed before "and N more". */
const MAX_RUNS = 8;

const CSR_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(CSR)) if (!CSR_NAMES.has(num)) CSR_NAMES.set(num, name);

/** The devices of VirtMachine.saveState, as a person names them. */
const PART_NAMES: Record<string, string> = {
  clock: 'clock',
  clint: 'clint',
  plic: 'plic',
  uart: 'uart16550',
  rtc: 'goldfish-rtc',
};

interface Field {
  /** Where: '' for the hart, else the device ("plic", "virtio-rng@slot 0"). */
  where: string;
  name: string;
  /** Leaf indices of the value's low and high words (the same leaf for a one-leaf value). */
  lo: number;
  hi: number;
  /** Shown as 16 hex digits (registers, CSRs, addresses held as lo/hi words). */
  wide: boolean;
}

function fieldOf(
  path: string,
  index: Map<string, number>,
  deviceName: (slot: number) => string,
): Field {
  const i = index.get(path)!;
  const one = (where: string, name: string, wide = false): Field => ({
    where,
    name,
    lo: i,
    hi: i,
    wide,
  });
  // A 64-bit value kept as two 32-bit words: xl/xh (the hart's registers), fooLo/fooHi.
  const pair = (where: string, name: string, other: string, isLo: boolean): Field | undefined => {
    const j = index.get(other);
    if (j === undefined) return undefined;
    return { where, name, lo: isLo ? i : j, hi: isLo ? j : i, wide: true };
  };
  let m = /^cpu\.x([lh])\[(\d+)\]$/.exec(path);
  if (m) return pair('', `x${m[2]}`, `cpu.x${m[1] === 'l' ? 'h' : 'l'}[${m[2]}]`, m[1] === 'l')!;
  m = /^cpu\.fpu\.fr\[(\d+)\]$/.exec(path);
  if (m) return one('', `f${m[1]}`, true);
  let where = '';
  let rest = path;
  if ((m = /^cpu\.(.*)$/.exec(path))) rest = m[1];
  else if ((m = /^virtio\[(\d+)\]\.(.*)$/.exec(path))) {
    where = `${deviceName(Number(m[1]))}@slot ${m[1]}`;
    rest = m[2].replace(/^queues\[(\d+)\]\./, 'queue $1 ').replace(/^model\./, '');
  } else if ((m = /^(\w+)\.(.*)$/.exec(path))) {
    where = PART_NAMES[m[1]] ?? m[1];
    rest = m[2];
  }
  m = /^(.*)(Lo|Hi)(\[(\d+)\])?$/.exec(path);
  if (m) {
    const other = `${m[1]}${m[2] === 'Lo' ? 'Hi' : 'Lo'}${m[3] ?? ''}`;
    let name = rest.replace(/(Lo|Hi)(\[\d+\])?$/, '$2');
    if (path.startsWith('cpu.csr') && m[4] !== undefined) {
      const n = Number(m[4]);
      name = CSR_NAMES.get(n) ?? `csr 0x${n.toString(16)}`;
    }
    const f = pair(where, name, other, m[2] === 'Lo');
    if (f) return f;
  }
  if (where === '') {
    if (rest === 'priv') return one('', 'privilege');
    const wide = /^(mstatus|mip|mie|medeleg|mideleg)$/.test(rest);
    return one('', rest, wide);
  }
  return one(where, rest);
}

/** The device in virtio slot `slot`, by its saved name. */
function deviceName(named: Leaves, index: Map<string, number>, slot: number): string {
  const d = index.get(`virtio[${slot}].device`);
  const v = d === undefined ? null : named.raw![d];
  return typeof v === 'string' ? v : 'virtio-mmio';
}

function numberText(lo: number, hi: number, raw: unknown, wide: boolean): string {
  if (wide) return hex64(lo, hi);
  if (typeof raw === 'boolean') return lo ? 'true' : 'false';
  if ((hi === 0 && lo >= 0) || (hi === -1 && lo < 0))
    return Math.abs(lo) < 65536 ? String(lo) : (lo < 0 ? '-0x' : '0x') + Math.abs(lo).toString(16);
  const v = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
  return v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16);
}

function summary(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (Array.isArray(v))
    return v.length <= 8 && v.every((x) => typeof x === 'number')
      ? `[${v.join(', ')}]`
      : `${v.length} ${v.length === 1 ? 'entry' : 'entries'}`;
  if (ArrayBuffer.isView(v)) return `${(v as Uint8Array).length} elements`;
  return typeof v === 'object' ? 'a part' : String(v);
}

/**
 * The fields whose recorded values (`recorded`, lo/hi per leaf) differ from
 * the replayed ones (`replayed`), named through `named` (the replayed
 * machine's leaves with paths and values).
 */
export function describeFieldDifferences(
  named: Leaves,
  recorded: Int32Array,
  replayed: Int32Array,
): string[] {
  const paths = named.paths!;
  const raw = named.raw!;
  const index = new Map<string, number>();
  paths.forEach((p, i) => index.set(p, i));
  const seen = new Set<string>();
  const out: string[] = [];
  let more = 0;
  for (let i = 0; i < paths.length; i++) {
    if (recorded[2 * i] === replayed[2 * i] && recorded[2 * i + 1] === replayed[2 * i + 1])
      continue;
    const f = fieldOf(paths[i], index, (slot) => deviceName(named, index, slot));
    const key = `${f.where}/${f.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (out.length >= MAX_FIELDS) {
      more++;
      continue;
    }
    const prefix = f.where ? `${f.where}: ${f.name}` : `${f.name}:`;
    if (named.kinds[f.lo] === LEAF_HASH) {
      out.push(`${prefix} differs (replayed: ${summary(raw[f.lo])})`);
      continue;
    }
    const value = (v: Int32Array) =>
      f.lo === f.hi
        ? numberText(v[2 * f.lo], v[2 * f.lo + 1], raw[f.lo], f.wide)
        : hex64(v[2 * f.lo], v[2 * f.hi]);
    out.push(`${prefix} recorded ${value(recorded)}, replayed ${value(replayed)}`);
  }
  if (more) out.push(`and ${more} more fields`);
  return out;
}

/** Names of the fields of leaves `indices`, for a list ("x12, virtio-net@slot 1: queue 0 usedIdx"). */
export function fieldNames(named: Leaves, indices: readonly number[]): string {
  const index = new Map<string, number>();
  named.paths!.forEach((p, i) => index.set(p, i));
  const names = new Set<string>();
  for (const i of indices) {
    const f = fieldOf(named.paths![i], index, (slot) => deviceName(named, index, slot));
    names.add(f.where ? `${f.where}: ${f.name}` : f.name);
  }
  const all = [...names];
  return all.length > MAX_FIELDS
    ? `${all.slice(0, MAX_FIELDS).join(', ')} and ${all.length - MAX_FIELDS} more`
    : all.join(', ');
}

const hex = (n: number) => '0x' + n.toString(16);

/** RAM pages (indices from ramBase) that differ, as runs of addresses. */
export function describePageDifferences(pages: readonly number[], ramBase: number): string {
  const runs: string[] = [];
  for (let i = 0; i < pages.length;) {
    let j = i;
    while (j + 1 < pages.length && pages[j + 1] === pages[j] + 1) j++;
    const lo = ramBase + pages[i] * 4096;
    runs.push(`${hex(lo)}..${hex(ramBase + pages[j] * 4096 + 4095)}`);
    i = j + 1;
  }
  const listed =
    runs.length > MAX_RUNS
      ? `${runs.slice(0, MAX_RUNS).join(', ')} and ${runs.length - MAX_RUNS} more runs`
      : runs.join(', ');
  return `RAM differs in ${pages.length === 1 ? '1 page' : `${pages.length} pages`}: ${listed}`;
}
