/**
 * Checkpoints inside a recording (chunk kind 4, format version 3 and up):
 * the machine as it was at an icount of the recorded run, so that a
 * replay, a seek or a verifier can start there instead of at the beginning.
 *
 *   raw = u32 headLength, head (JSON)           CheckpointHead: where it is
 *         u32 stateLength, state (JSON)         VirtMachine.saveState(), as
 *                                               snapshots write it, but
 *                                               (version 4) without the
 *                                               disks' written clusters
 *         u32 pages, u32 pageMap[pages]         per RAM page: 0 = all zero,
 *                                               s + 1 = its bytes are in
 *                                               checkpoint s (this one or
 *                                               an earlier one), (version
 *                                               5) AS_LOADED = as the
 *                                               machine's images load it
 *         (version 4) u32 disks, then per disk: the written clusters of the
 *           u32 slot, u32 clusterSize, u32 n,   disk in virtio slot `slot`,
 *           n × (u32 cluster, u32 s + 1)        ascending, each with the
 *                                               checkpoint that holds it
 *         page data                             the pages whose entry is
 *                                               this checkpoint's, in order
 *         (version 4) cluster data              the clusters whose entry is
 *                                               this checkpoint's, by disk
 *                                               and then in order
 *
 * A checkpoint stores only the pages and disk clusters written since the
 * previous one, and any whose stored copy is REFRESH_AFTER checkpoints old,
 * so that restoring one reads at most that many earlier checkpoints however
 * long the recording is (the maps say which), and each page or cluster from
 * one of them. In version 3 the state held every written cluster, in every
 * checkpoint. From version 5 a page the guest has not written since its
 * images were loaded (the kernel's code, the firmware) is not stored at
 * all: the machine that restores has the same images (their digests are in
 * the header) and takes the page from them (machine/loaded-pages.ts).
 */
import { stateFromJson, stateToJson, SnapshotError, type State } from '../snapshot/state.js';
import type { VirtMachine } from '../machine/virt.js';
import type { WrittenClusters } from '../devices/virtio/backends.js';
import { RecordingFormatError } from './recording-error.js';
import { putRamPages, ramPageEquals } from '../snapshot/ram-pages.js';
import { nextFlagged } from '../util/page-flags.js';

const PAGE = 4096;
/** A page's stored copy is written again once it is this many checkpoints old. */
export const REFRESH_AFTER = 32;
/** Largest checkpoint (raw bytes) a recording may hold: a typed array of 2 GiB less a little. */
export const MAX_CHECKPOINT = 0x7fff_0000;
/** The first version whose checkpoints keep disk clusters apart from the state. */
const DISKS_APART_VERSION = 4;
/** A page map's entry for a page as the machine's images load it (version 5 on). */
export const AS_LOADED = 0xffff_ffff;
const AS_LOADED_VERSION = 5;

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

/** A disk whose written clusters the checkpoints hold, and which checkpoint holds each. */
interface TrackedDisk {
  slot: number;
  clusters: WrittenClusters;
  /** Cluster number → s + 1, checkpoint s holds its bytes. */
  ref: Map<number, number>;
}

/**
 * Builds the checkpoints of one recorded run, each holding what changed
 * since the one before (RAM pages by the bus's written-page flags, disk
 * clusters by their stores'). After build() throws, the builder is spent.
 */
export class CheckpointBuilder {
  /** Per page: 0 zero, s + 1 stored in checkpoint s, AS_LOADED as the images load it. */
  private readonly map: Uint32Array;
  private readonly dirty: Uint8Array;
  /** Pages some image's bytes were loaded in (machine/loaded-pages.ts). */
  private readonly loaded: Uint8Array;
  private readonly disks: TrackedDisk[];
  private seq = 0;

  /** Throws SnapshotError for a machine that cannot be checkpointed (a disk written in place). */
  constructor(private readonly vm: VirtMachine) {
    vm.saveState({ disksApart: true }); // what cannot be saved says so now
    // Each disk by its virtio slot; clusters written before now (a run started from a snapshot)
    // come with the first takeChanged().
    this.disks = vm.disks.map((d) => ({
      slot: vm.virtio.findIndex((v) => v.model === d),
      clusters: d.clusters!, // copy-on-write: saveState above refuses any other
      ref: new Map<number, number>(),
    }));
    // Every page written since the machine was made flagged at first (the others are zero, as
    // the map starts): the first checkpoint holds all of RAM that is not zero, or not as the
    // images loaded it.
    this.dirty = vm.bus.addDirtyListener(true);
    this.map = new Uint32Array(this.dirty.length);
    this.loaded = new Uint8Array(this.dirty.length);
    for (const p of vm.loaded.pages()) if (p < this.loaded.length) this.loaded[p] = 1;
  }

  /** Page p holds what the images loaded there (a page no image touched is not "as loaded"). */
  private asLoaded(p: number): boolean {
    return this.loaded[p] === 1 && ramPageEquals(this.vm.bus.ram8, p, this.vm.loaded.page(p)!);
  }

  /** Checkpoints built so far. */
  get count(): number {
    return this.seq;
  }

  /**
   * A reference older than this many checkpoints is stored again in
   * checkpoint `seq` (zero pages and pages as loaded never are). None is
   * before checkpoint REFRESH_AFTER: the walks over every page for them are
   * spared till then.
   */
  private static stale(seq: number, ref: number): boolean {
    return ref !== 0 && ref !== AS_LOADED && seq - (ref - 1) >= REFRESH_AFTER;
  }

  /**
   * Sort out the pages written since the last look that a checkpoint does
   * not store: those all zero, and those still as the images loaded them
   * (a boot's first checkpoint has a thousand, each compared with its
   * image). Their flags are cleared and their map entries set now; a write
   * after this flags them again (the bus hands its flags over here, and the
   * hart's write TLB is flushed so that the next write is seen). What stays
   * flagged is stored by the next build. Done ahead of a build, it leaves
   * the build only the pages written since.
   */
  private sortWritten(): number {
    const vm = this.vm;
    vm.collectDirty();
    const { map, dirty } = this;
    let left = 0;
    for (let p = nextFlagged(dirty, 0); p >= 0; p = nextFlagged(dirty, p + 1))
      if (this.asLoaded(p)) {
        map[p] = AS_LOADED;
        dirty[p] = 0;
      } else if (vm.bus.pageIsZero(p)) {
        map[p] = 0;
        dirty[p] = 0;
      } else left++;
    return left;
  }

  /**
   * About how many raw bytes the next checkpoint takes, were it built now:
   * pages written or due to be stored again, the map, and room for the
   * state; not the disks' clusters. For a host that readies memory for it
   * ahead of time. It sorts the written pages out (sortWritten) on the way,
   * which the build then need not do again.
   */
  estimateBytes(): number {
    let pages = this.sortWritten();
    const { map, dirty } = this;
    if (this.seq >= REFRESH_AFTER)
      for (let p = 0; p < map.length; p++)
        if (dirty[p] === 0 && CheckpointBuilder.stale(this.seq, map[p])) pages++;
    return pages * PAGE + map.length * 4 + this.stateBytes + 4096;
  }

  /** The last state's JSON length (a guess before the first). */
  private stateBytes = 64 << 10;

  /**
   * The machine as it is now (between slices), as a checkpoint chunk's raw
   * bytes: in `into` when it is large enough (its start; memory the host
   * made ready), otherwise in new memory.
   */
  build(
    eventIndex: number,
    digests: number,
    into?: Uint8Array,
  ): { head: CheckpointHead; raw: Uint8Array } {
    const vm = this.vm;
    const seq = this.seq++;
    const head: CheckpointHead = { seq, icount: vm.cpu.icount, eventIndex, digests };
    const headJson = new TextEncoder().encode(JSON.stringify(head));
    const json = new TextEncoder().encode(stateToJson(vm.saveState({ disksApart: true })));
    this.stateBytes = json.length;
    // Zero pages and the kernel's code and the firmware, never written since, are not stored.
    this.sortWritten();
    const ram8 = vm.bus.ram8;
    const map = this.map;
    const dirty = this.dirty;
    const own = seq + 1;
    const pages: number[] = [];
    const take = (p: number) => {
      dirty[p] = 0;
      map[p] = own;
      pages.push(p);
    };
    // What was written since (sortWritten left it flagged), and what is due to be stored again.
    if (seq >= REFRESH_AFTER) {
      for (let p = 0; p < map.length; p++)
        if (dirty[p] !== 0 || CheckpointBuilder.stale(seq, map[p])) take(p);
    } else {
      for (let p = nextFlagged(dirty, 0); p >= 0; p = nextFlagged(dirty, p + 1)) take(p);
    }
    // Each disk's clusters: (cluster, s + 1) pairs in ascending order, and this one's to store.
    let diskBytes = 4;
    let clusterBytes = 0;
    const entries = this.disks.map((d) => {
      for (const c of d.clusters.takeChanged()) d.ref.set(c, own);
      const list = [...d.ref.keys()].sort((a, b) => a - b);
      const pairs = new Uint32Array(list.length * 2);
      const mine: number[] = [];
      list.forEach((c, i) => {
        let r = d.ref.get(c)!;
        if (r !== own && CheckpointBuilder.stale(seq, r)) d.ref.set(c, (r = own));
        if (r === own) mine.push(c);
        pairs[2 * i] = c;
        pairs[2 * i + 1] = r;
      });
      diskBytes += 12 + pairs.byteLength;
      clusterBytes += mine.length * d.clusters.clusterSize;
      return { d, pairs, mine };
    });
    const size =
      4 +
      headJson.length +
      4 +
      json.length +
      4 +
      map.length * 4 +
      diskBytes +
      pages.length * PAGE +
      clusterBytes;
    if (size > MAX_CHECKPOINT)
      throw new RecordingFormatError(
        `a checkpoint of ${size} bytes, more than a recording holds (${MAX_CHECKPOINT})`,
      );
    // Every byte of it is written below: memory given need not be zero.
    const raw = into && into.length >= size ? into.subarray(0, size) : new Uint8Array(size);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    dv.setUint32(0, headJson.length, true);
    raw.set(headJson, 4);
    let o = 4 + headJson.length;
    dv.setUint32(o, json.length, true);
    raw.set(json, o + 4);
    o += 4 + json.length;
    dv.setUint32(o, map.length, true);
    o += 4;
    raw.set(new Uint8Array(map.buffer), o);
    o += map.length * 4;
    dv.setUint32(o, entries.length, true);
    o += 4;
    for (const { d, pairs } of entries) {
      dv.setUint32(o, d.slot, true);
      dv.setUint32(o + 4, d.clusters.clusterSize, true);
      dv.setUint32(o + 8, pairs.length / 2, true);
      o += 12;
      raw.set(new Uint8Array(pairs.buffer), o);
      o += pairs.byteLength;
    }
    for (const p of pages) {
      raw.set(ram8.subarray(p * PAGE, p * PAGE + PAGE), o);
      o += PAGE;
    }
    for (const { d, mine } of entries)
      for (const c of mine) {
        d.clusters.copyCluster(c, raw.subarray(o, o + d.clusters.clusterSize));
        o += d.clusters.clusterSize;
      }
    return { head, raw };
  }
}

/** A disk's written clusters as a checkpoint lists them (version 4). */
export interface CheckpointDisk {
  /** Its virtio slot. */
  slot: number;
  clusterSize: number;
  /** Written clusters, ascending, and per cluster s + 1: checkpoint s holds it. */
  clusters: Uint32Array;
  refs: Uint32Array;
  /** Offset in `raw` of each cluster this checkpoint holds. */
  own: Map<number, number>;
}

/** A checkpoint's raw bytes, taken apart and checked. */
export interface ParsedCheckpoint {
  head: CheckpointHead;
  state: State;
  map: Uint32Array;
  /** Offset in `raw` of each page this checkpoint holds. */
  own: Map<number, number>;
  /** Disks whose clusters are kept apart from the state (none before version 4). */
  disks: CheckpointDisk[];
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

/** Slots a machine has for virtio devices (a checkpoint's disk names one). */
const VIRTIO_SLOTS = 8;
const MAX_CLUSTER = 1 << 24;

/** A checkpoint's raw bytes (of a file of format `version`) taken apart and checked. */
export function parseCheckpoint(
  raw: Uint8Array,
  ramPages: number,
  version: number,
): ParsedCheckpoint {
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
  const ownRef = head.seq + 1;
  const disks: CheckpointDisk[] = [];
  if (version >= DISKS_APART_VERSION) {
    if (o + 4 > raw.length) throw bad('its disk list runs past its end');
    const n = dv.getUint32(o, true);
    o += 4;
    if (n > VIRTIO_SLOTS) throw bad(`${n} disks`);
    for (let i = 0; i < n; i++) {
      if (o + 12 > raw.length) throw bad('its disk list runs past its end');
      const slot = dv.getUint32(o, true);
      const clusterSize = dv.getUint32(o + 4, true);
      const count = dv.getUint32(o + 8, true);
      o += 12;
      if (slot >= VIRTIO_SLOTS || disks.some((d) => d.slot === slot))
        throw bad(`a disk in slot ${slot}`);
      if (clusterSize < 512 || clusterSize > MAX_CLUSTER || (clusterSize & (clusterSize - 1)) !== 0)
        throw bad(`disk clusters of ${clusterSize} bytes`);
      if (count > (raw.length - o) / 8) throw bad("a disk's cluster list runs past its end");
      const clusters = new Uint32Array(count);
      const refs = new Uint32Array(count);
      for (let k = 0; k < count; k++) {
        clusters[k] = dv.getUint32(o, true);
        refs[k] = dv.getUint32(o + 4, true);
        o += 8;
        if (k > 0 && clusters[k] <= clusters[k - 1]) throw bad("a disk's clusters out of order");
        if (refs[k] === 0 || refs[k] > ownRef)
          throw bad(`disk cluster ${clusters[k]} is said to be in checkpoint ${refs[k] - 1}`);
      }
      disks.push({ slot, clusterSize, clusters, refs, own: new Map() });
    }
  }
  const own = new Map<number, number>();
  for (let p = 0; p < pages; p++) {
    const m = map[p];
    if (m === AS_LOADED) {
      if (version < AS_LOADED_VERSION)
        throw bad(`page ${p} is said to be as loaded, which version ${version} files never say`);
      continue;
    }
    if (m > ownRef) throw bad(`page ${p} is said to be in a later checkpoint`);
    if (m === ownRef) {
      own.set(p, o);
      o += PAGE;
    }
  }
  for (const d of disks)
    for (let k = 0; k < d.clusters.length; k++)
      if (d.refs[k] === ownRef) {
        d.own.set(d.clusters[k], o);
        o += d.clusterSize;
      }
  if (o !== raw.length) throw bad('its pages and clusters are not the ones its maps list');
  return { head, state, map, own, disks, raw };
}

/**
 * The checkpoint's state with each disk's written clusters put back in
 * (from the checkpoints that hold them), as VirtMachine.loadState takes it.
 */
function stateWithDisks(cp: ParsedCheckpoint, sources: Map<number, ParsedCheckpoint>): State {
  if (!cp.disks.length) return cp.state;
  const virtio = cp.state.virtio;
  if (!Array.isArray(virtio)) throw new SnapshotError('the checkpoint has no virtio slots');
  const slots = [...virtio];
  for (const d of cp.disks) {
    const mmio = slots[d.slot] as State | undefined;
    const model = mmio?.model as State | null | undefined;
    if (!model || typeof model !== 'object' || model.store !== null)
      throw new RecordingFormatError(
        `checkpoint ${cp.head.seq} lists a disk in slot ${d.slot}, which has none`,
      );
    const data: Uint8Array[] = [];
    for (let k = 0; k < d.clusters.length; k++) {
      const src = sources.get(d.refs[k] - 1)!;
      const sd = src.disks.find((x) => x.slot === d.slot);
      const at = sd?.clusterSize === d.clusterSize ? sd.own.get(d.clusters[k]) : undefined;
      if (at === undefined)
        throw new RecordingFormatError(
          `checkpoint ${cp.head.seq} finds disk cluster ${d.clusters[k]} in checkpoint ${d.refs[k] - 1}, which does not hold it`,
        );
      data.push(src.raw.subarray(at, at + d.clusterSize));
    }
    const store: State = { clusterSize: d.clusterSize, index: [...d.clusters], data };
    slots[d.slot] = { ...mmio, model: { ...model, store } };
  }
  return { ...cp.state, virtio: slots };
}

/**
 * Put checkpoint `cp` into a machine of the recorded shape: state, then
 * RAM, each page (and disk cluster) from the checkpoint that holds it
 * (`load` reads and parses checkpoint s; each is asked for at most once).
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
  const need = (m: number) => {
    if (m === 0 || m === AS_LOADED || sources.has(m - 1)) return;
    const src = load(m - 1);
    if (src.head.seq !== m - 1 || src.map.length !== pages)
      throw new RecordingFormatError(`checkpoint ${m - 1} is not the one its index names`);
    sources.set(m - 1, src);
  };
  for (let p = 0; p < pages; p++) need(cp.map[p]);
  for (const d of cp.disks) for (const r of d.refs) need(r);
  for (let p = 0; p < pages; p++) {
    const m = cp.map[p];
    if (m === 0 || m === AS_LOADED) continue;
    const at = sources.get(m - 1)!.own.get(p);
    if (at === undefined)
      throw new RecordingFormatError(
        `checkpoint ${cp.head.seq} finds page ${p} in checkpoint ${m - 1}, which does not hold it`,
      );
  }
  const state = stateWithDisks(cp, sources);
  // RAM first, flagging only the pages that change (a restore over a machine that ran nearby
  // keeps its translated code and hashes for the rest), then the state that goes with it.
  putRamPages(vm, (p) => {
    const m = cp.map[p];
    if (m === 0) return undefined;
    if (m === AS_LOADED) return vm.loaded.page(p);
    const src = sources.get(m - 1)!;
    const at = src.own.get(p)!;
    return src.raw.subarray(at, at + PAGE);
  });
  vm.loadState(state, true);
  if (vm.cpu.icount !== cp.head.icount)
    throw new RecordingFormatError(
      `checkpoint ${cp.head.seq} says icount ${cp.head.icount}, its state ${vm.cpu.icount}`,
    );
}
