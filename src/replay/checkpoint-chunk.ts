/**
 * Checkpoints inside a recording (format version 3, chunk kind 4): the
 * machine as it was at an icount of the recorded run, so that a replay,
 * a seek or a verifier can start there instead of at the beginning.
 *
 *   raw = u32 headLength, head (JSON)           CheckpointHead: where it is
 *         u32 stateLength, state (JSON)         VirtMachine.saveState(), as
 *                                               snapshots write it
 *         u32 pages, u32 pageMap[pages]         per RAM page: 0 = all zero,
 *                                               s + 1 = its bytes are in
 *                                               checkpoint s (this one or
 *                                               an earlier one)
 *         page data                             the pages whose entry is
 *                                               this checkpoint's, in order
 *
 * A checkpoint stores only the pages written since the previous one, and
 * any page whose stored copy is REFRESH_AFTER checkpoints old, so that
 * restoring one reads at most that many earlier checkpoints however long
 * the recording is (the map says which), and each page from one of them.
 */
import { stateFromJson, stateToJson, SnapshotError, type State } from '../snapshot/state.js';
import type { VirtMachine } from '../machine/virt.js';
import { RecordingFormatError } from './recording-error.js';

const PAGE = 4096;
/** A page's stored copy is written again once it is this many checkpoints old. */
export const REFRESH_AFTER = 32;

/** Where a checkpoint sits in the recorded run. */
export interface CheckpointHead {
  /** Its number among the file's checkpoints, from 0. */
  seq: number;
  icount: number;
  /** Events in the file before it: a replay from here starts at this event. */
  eventIndex: number;
  /** Of those, state digests (a replay from here counts on from this many). */
  digests: number;
}

/** A checkpoint chunk found in a file (from its index, or by a scan). */
export interface CheckpointInfo extends CheckpointHead {
  /** Offset in the file of the chunk's stored (compressed) bytes. */
  at: number;
  storedLength: number;
  rawLength: number;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function checkHead(v: unknown): CheckpointHead {
  const o = v as Partial<CheckpointHead> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    !isCount(o.seq) ||
    !isCount(o.icount) ||
    !isCount(o.eventIndex) ||
    !isCount(o.digests)
  )
    throw new RecordingFormatError('a checkpoint without its place (seq, icount, events)');
  return { seq: o.seq, icount: o.icount, eventIndex: o.eventIndex, digests: o.digests };
}

function isZeroPage(ram32: Int32Array, page: number): boolean {
  const from = page * 1024;
  for (let i = from; i < from + 1024; i++) if (ram32[i] !== 0) return false;
  return true;
}

function equalPage(ram8: Uint8Array, at: number, page: Uint8Array): boolean {
  for (let i = 0; i < PAGE; i++) if (ram8[at + i] !== page[i]) return false;
  return true;
}

/**
 * Builds the checkpoints of one recorded run, each holding what changed
 * since the one before (RAM pages by the bus's written-page flags).
 */
export class CheckpointBuilder {
  /** Per page: 0 zero, s + 1 stored in checkpoint s. */
  private readonly map: Uint32Array;
  private readonly dirty: Uint8Array;
  private seq = 0;

  constructor(private readonly vm: VirtMachine) {
    // Every page flagged at first: the first checkpoint holds all of RAM that is not zero.
    this.dirty = vm.bus.addDirtyListener();
    this.map = new Uint32Array(this.dirty.length);
  }

  /** Checkpoints built so far. */
  get count(): number {
    return this.seq;
  }

  /** The machine as it is now (between slices), as a checkpoint chunk's raw bytes. */
  build(eventIndex: number, digests: number): { head: CheckpointHead; raw: Uint8Array } {
    const vm = this.vm;
    const seq = this.seq++;
    const head: CheckpointHead = { seq, icount: vm.cpu.icount, eventIndex, digests };
    const headJson = new TextEncoder().encode(JSON.stringify(head));
    const json = new TextEncoder().encode(stateToJson(vm.saveState()));
    vm.collectDirty();
    const { ram8, ram32 } = vm.bus;
    const map = this.map;
    const dirty = this.dirty;
    const own = seq + 1;
    const pages: number[] = [];
    for (let p = 0; p < map.length; p++) {
      const m = map[p];
      if (dirty[p]) {
        dirty[p] = 0;
        // A page never written since the machine was made is zero: not read (first touching
        // host memory is slow, and most of a guest's RAM is never used).
        if (!vm.bus.mayBeNonZero(p) || isZeroPage(ram32, p)) {
          map[p] = 0;
          continue;
        }
      } else if (m === 0 || seq - (m - 1) < REFRESH_AFTER) continue;
      map[p] = own;
      pages.push(p);
    }
    const raw = new Uint8Array(
      4 + headJson.length + 4 + json.length + 4 + map.length * 4 + pages.length * PAGE,
    );
    const dv = new DataView(raw.buffer);
    dv.setUint32(0, headJson.length, true);
    raw.set(headJson, 4);
    let o = 4 + headJson.length;
    dv.setUint32(o, json.length, true);
    raw.set(json, o + 4);
    o += 4 + json.length;
    dv.setUint32(o, map.length, true);
    o += 4;
    new Uint8Array(raw.buffer, o, map.length * 4).set(new Uint8Array(map.buffer));
    o += map.length * 4;
    for (const p of pages) {
      raw.set(ram8.subarray(p * PAGE, p * PAGE + PAGE), o);
      o += PAGE;
    }
    return { head, raw };
  }
}

/** A checkpoint's raw bytes, taken apart and checked. */
export interface ParsedCheckpoint {
  head: CheckpointHead;
  state: State;
  map: Uint32Array;
  /** Offset in `raw` of each page this checkpoint holds. */
  own: Map<number, number>;
  raw: Uint8Array;
}

/** Longest head a checkpoint may have (it is a few numbers). */
export const MAX_HEAD = 1024;

/** The head of a checkpoint from the first bytes of its raw form (a scan reads no more). */
export function readHead(raw: Uint8Array): CheckpointHead {
  if (raw.length < 4) throw new RecordingFormatError('a malformed checkpoint: too short');
  const len = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(0, true);
  if (len > MAX_HEAD || 4 + len > raw.length)
    throw new RecordingFormatError('a malformed checkpoint: its head runs past its end');
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(raw.subarray(4, 4 + len)));
  } catch {
    throw new RecordingFormatError('a malformed checkpoint: its head is not JSON');
  }
  return checkHead(v);
}

export function parseCheckpoint(raw: Uint8Array, ramPages: number): ParsedCheckpoint {
  const bad = (why: string) => new RecordingFormatError(`a malformed checkpoint: ${why}`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const head = readHead(raw);
  let o = 4 + dv.getUint32(0, true);
  if (o + 4 > raw.length) throw bad('too short');
  const jlen = dv.getUint32(o, true);
  o += 4;
  if (o + jlen + 4 > raw.length) throw bad('its state runs past its end');
  let state: State;
  try {
    state = stateFromJson(new TextDecoder().decode(raw.subarray(o, o + jlen)));
  } catch (e) {
    throw bad(`its state is not readable (${(e as Error).message})`);
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state))
    throw bad('no machine state');
  o += jlen;
  const pages = dv.getUint32(o, true);
  o += 4;
  if (pages !== ramPages)
    throw bad(`a map of ${pages} pages for a machine of ${ramPages} pages of RAM`);
  if (o + pages * 4 > raw.length) throw bad('its page map runs past its end');
  const map = new Uint32Array(pages);
  new Uint8Array(map.buffer).set(raw.subarray(o, o + pages * 4));
  o += pages * 4;
  const own = new Map<number, number>();
  for (let p = 0; p < pages; p++) {
    const m = map[p];
    if (m > head.seq + 1) throw bad(`page ${p} is said to be in a later checkpoint`);
    if (m === head.seq + 1) {
      own.set(p, o);
      o += PAGE;
    }
  }
  if (o !== raw.length) throw bad('its pages are not the ones its map lists');
  return { head, state, map, own, raw };
}

/**
 * Put checkpoint `cp` into a machine of the recorded shape: state, then
 * RAM, each page from the checkpoint that holds it (`load` reads and parses
 * checkpoint s; each is asked for at most once).
 */
export function restoreCheckpoint(
  vm: VirtMachine,
  cp: ParsedCheckpoint,
  load: (seq: number) => ParsedCheckpoint,
): void {
  const ram8 = vm.bus.ram8;
  const pages = ram8.length / PAGE;
  if (cp.map.length !== pages)
    throw new SnapshotError(`the checkpoint is of a machine with ${cp.map.length} pages of RAM`);
  // Every source first: a checkpoint that cannot be read leaves the machine as it was.
  const sources = new Map<number, ParsedCheckpoint>([[cp.head.seq, cp]]);
  for (let p = 0; p < pages; p++) {
    const m = cp.map[p];
    if (m === 0 || sources.has(m - 1)) continue;
    const src = load(m - 1);
    if (src.head.seq !== m - 1 || src.map.length !== pages)
      throw new RecordingFormatError(`checkpoint ${m - 1} is not the one its index names`);
    sources.set(m - 1, src);
  }
  for (let p = 0; p < pages; p++) {
    const m = cp.map[p];
    if (m === 0) continue;
    const at = sources.get(m - 1)!.own.get(p);
    if (at === undefined)
      throw new RecordingFormatError(
        `checkpoint ${cp.head.seq} finds page ${p} in checkpoint ${m - 1}, which does not hold it`,
      );
  }
  // RAM first, flagging only the pages that change (a restore over a machine that ran nearby
  // keeps its translated code and hashes for the rest), then the state that goes with it.
  const bus = vm.bus;
  const ram32 = bus.ram32;
  for (let p = 0; p < pages; p++) {
    const m = cp.map[p];
    const used = bus.mayBeNonZero(p);
    if (m === 0) {
      if (used && !isZeroPage(ram32, p)) {
        ram8.fill(0, p * PAGE, p * PAGE + PAGE);
        bus.noteDmaWrite(bus.ramBase + p * PAGE, PAGE);
      }
      continue;
    }
    const src = sources.get(m - 1)!;
    const at = src.own.get(p)!;
    const page = src.raw.subarray(at, at + PAGE);
    if (used && equalPage(ram8, p * PAGE, page)) continue;
    ram8.set(page, p * PAGE);
    bus.noteDmaWrite(bus.ramBase + p * PAGE, PAGE);
  }
  vm.loadState(cp.state, true);
  if (vm.cpu.icount !== cp.head.icount)
    throw new RecordingFormatError(
      `checkpoint ${cp.head.seq} says icount ${cp.head.icount}, its state ${vm.cpu.icount}`,
    );
}
