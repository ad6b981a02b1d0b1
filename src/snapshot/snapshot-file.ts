/**
 * A machine snapshot on disk. Little-endian:
 *
 *   "VMRSSNAP" u32 version
 *   u32 jsonLength, json, u32 crc32(json)     header: machine description,
 *                                              icount, and the machine's state
 *                                              as named fields (src/snapshot/state.ts)
 *   u32 rawLength, u32 storedLength, u32 crc32(stored), stored = deflate(raw)
 *   raw = page bitmap (1 bit per 4 KiB page of RAM: not all zero), then those pages
 *
 * A snapshot is refused whole — bad magic, another version, a checksum that
 * fails, fields of another machine shape — never half-applied.
 */
import { deflateRaw, inflateRaw } from '../util/deflate-raw.js';
import { crc32 } from '../replay/crc32.js';
import type { FileStamp, MachineDescription } from '../replay/log-format.js';
import { descriptionProblems, isUint, sayProblems } from '../replay/header-check.js';
import type { VirtMachine } from '../machine/virt.js';
import { SnapshotError, stateFromJson, stateToJson, type State } from './state.js';
import { putRamPages } from './ram-pages.js';

export const SNAPSHOT_VERSION = 1;
const MAGIC = new TextEncoder().encode('VMRSSNAP');
const PAGE = 4096;

export interface SnapshotHeader extends MachineDescription, FileStamp {
  icount: number;
  /** Taken during a replay: which recording (digest of its header) and where. */
  replayOf?: { recording: string; icount: number };
}

export interface Snapshot {
  header: SnapshotHeader;
  state: State;
  /** RAM pages that are not all zero, by page number. */
  pages: Map<number, Uint8Array>;
}

/** The machine as it is now (call between slices). */
export function captureSnapshot(
  vm: VirtMachine,
  header: Omit<SnapshotHeader, 'icount'>,
): Uint8Array {
  const state = vm.saveState();
  const json = new TextEncoder().encode(
    stateToJson({ header: { ...header, icount: vm.cpu.icount } as never, state }),
  );
  const pages = vm.bus.ram8.length / PAGE;
  const bitmap = new Uint8Array(Math.ceil(pages / 8));
  let used = 0;
  for (let p = 0; p < pages; p++) {
    if (vm.bus.pageIsZero(p)) continue;
    bitmap[p >> 3] |= 1 << (p & 7);
    used++;
  }
  const raw = new Uint8Array(bitmap.length + used * PAGE);
  raw.set(bitmap);
  let at = bitmap.length;
  for (let p = 0; p < pages; p++)
    if (bitmap[p >> 3] & (1 << (p & 7))) {
      raw.set(vm.bus.ram8.subarray(p * PAGE, p * PAGE + PAGE), at);
      at += PAGE;
    }
  const stored = deflateRaw(raw, 1);
  const out = new Uint8Array(8 + 4 + 4 + json.length + 4 + 12 + stored.length);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint32(8, SNAPSHOT_VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  let o = 16 + json.length;
  dv.setUint32(o, crc32(json), true);
  dv.setUint32(o + 4, raw.length, true);
  dv.setUint32(o + 8, stored.length, true);
  dv.setUint32(o + 12, crc32(stored), true);
  o += 16;
  out.set(stored, o);
  return out;
}

export function readSnapshot(file: Uint8Array): Snapshot {
  if (file.length < 16 || !MAGIC.every((b, i) => file[i] === b))
    throw new SnapshotError('not a vmrs snapshot (bad magic)');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== SNAPSHOT_VERSION)
    throw new SnapshotError(
      `snapshot format version ${version} is not supported (this vmrs reads ${SNAPSHOT_VERSION})`,
    );
  const jlen = dv.getUint32(12, true);
  if (16 + jlen + 16 > file.length) throw new SnapshotError('truncated snapshot (header)');
  const json = file.subarray(16, 16 + jlen);
  let o = 16 + jlen;
  if (dv.getUint32(o, true) !== crc32(json))
    throw new SnapshotError('corrupt snapshot header (checksum mismatch)');
  let parsed: State;
  try {
    parsed = stateFromJson(new TextDecoder().decode(json));
  } catch (e) {
    throw new SnapshotError(`corrupt snapshot header (${(e as Error).message})`);
  }
  const header = parsed.header as unknown as SnapshotHeader;
  const state = parsed.state as State;
  if (typeof header !== 'object' || header === null || typeof state !== 'object' || state === null)
    throw new SnapshotError('corrupt snapshot header (fields missing)');
  const problems = descriptionProblems(header);
  if (!isUint(header.icount)) problems.push('icount is not an instruction count');
  const r = header.replayOf as unknown;
  if (r !== undefined && r !== null) {
    const o = r as Record<string, unknown>;
    if (
      typeof o !== 'object' ||
      typeof o.recording !== 'string' ||
      !/^[0-9a-f]{64}$/.test(o.recording) ||
      !isUint(o.icount)
    )
      problems.push('replayOf is not a recording digest and icount');
  }
  if (problems.length) throw new SnapshotError(`corrupt snapshot header: ${sayProblems(problems)}`);
  const rawLen = dv.getUint32(o + 4, true);
  const storedLen = dv.getUint32(o + 8, true);
  const sum = dv.getUint32(o + 12, true);
  o += 16;
  if (o + storedLen > file.length) throw new SnapshotError('truncated snapshot (memory)');
  const stored = file.subarray(o, o + storedLen);
  if (crc32(stored) !== sum) throw new SnapshotError('corrupt snapshot memory (checksum mismatch)');
  const pageCount = header.machine.memoryBytes / PAGE;
  const bitmapLen = Math.ceil(pageCount / 8);
  if (!Number.isInteger(pageCount) || rawLen < bitmapLen || rawLen > bitmapLen + pageCount * PAGE)
    throw new SnapshotError('corrupt snapshot memory (impossible length)');
  let raw: Uint8Array;
  try {
    raw = inflateRaw(stored, rawLen);
  } catch {
    throw new SnapshotError('corrupt snapshot memory (does not decompress)');
  }
  if (raw.length !== rawLen) throw new SnapshotError('corrupt snapshot memory (length)');
  const pages = new Map<number, Uint8Array>();
  let at = bitmapLen;
  for (let p = 0; p < pageCount; p++)
    if (raw[p >> 3] & (1 << (p & 7))) {
      if (at + PAGE > raw.length) throw new SnapshotError('corrupt snapshot memory (pages)');
      pages.set(p, raw.subarray(at, at + PAGE));
      at += PAGE;
    }
  if (at !== raw.length) throw new SnapshotError('corrupt snapshot memory (pages)');
  return { header, state, pages };
}

/** Put a snapshot into a machine built from the same description. */
export function restoreSnapshot(vm: VirtMachine, snap: Snapshot): void {
  if (vm.bus.ram8.length !== snap.header.machine.memoryBytes)
    throw new SnapshotError(
      `the snapshot is of a machine with ${snap.header.machine.memoryBytes / 1048576} MiB of RAM, this one has ${vm.bus.ram8.length / 1048576} MiB`,
    );
  // RAM first, as checkpoints and seeks restore: only the pages that differ are written
  // (and flagged: see putRamPages), behind the hart's back, which ends an LR/SC reservation
  // on them. The state after it brings back the snapshot's own reservation.
  putRamPages(vm, (p) => snap.pages.get(p));
  vm.loadState(snap.state, true);
  if (vm.cpu.icount !== snap.header.icount)
    throw new SnapshotError('corrupt snapshot (icount does not match the state)');
}
