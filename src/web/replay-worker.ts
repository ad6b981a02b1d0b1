/**
 * The replay worker: holds the machine and replays the recording in slices
 * of ~30 ms, yielding between them so that pause, speed and seek messages
 * get in. Messages: protocol.ts.
 *
 * The console: every byte the guest writes goes to the page once, in
 * order. After a seek back, the replay re-runs what the page has shown
 * already; those bytes are held back until the replay passes the furthest
 * point it reached before (`frontier`), where it stops exactly (the replay
 * is deterministic, so what it writes up to there is what it wrote before).
 */
import { hex64 } from '../replay/hex.js';
import { nextTask } from '../util/next-task.js';
import { listInstructions } from '../cpu/disassemble.js';
import { serverImageLoader } from './image-fetch.js';
import { SpeedMeter } from './speed-meter.js';
import type { ParsedRecording } from '../replay/log-format.js';
import type { ReplayStatus } from '../replay/replayer.js';
import { CSR } from '../cpu/csr-numbers.js';
import { EventDecoder } from '../replay/event-log.js';
import { END_KINDS, EventType } from '../replay/events.js';
import { TIMEBASE_HZ } from '../machine/clock.js';
import { MachineGuestView } from '../plugin/guest-view.js';
import {
  ReplayOpenError,
  openBrowserReplay,
  readRecordingBytes,
  type BrowserReplay,
} from './replay-machine.js';
import type {
  Divergence,
  EventTrack,
  EventsMessage,
  FromWorker,
  ReplayState,
  ToWorker,
  WorkerStatus,
} from './protocol.js';
import { PRIV_NAMES, REPORTED_CSRS } from '../cpu/abi-names.js';
import { describeFrame } from '../analysis/frame-summary.js';
import { DISK_TRACK, GuestActionLog, IcountList, NET_OUT_TRACK } from '../replay/guest-actions.js';

/** The worker's global scope, as much of it as is used (no 'webworker' lib beside 'dom'). */
const scope = self as unknown as {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  location: { href: string };
};

/** Milliseconds a slice of replay aims at. */
const SLICE_MS = 30;
/** Milliseconds between status reports while running. */
const STATUS_MS = 200;
const CHECKPOINTS = { interval: 20_000_000, memoryBudget: 256 << 20 };
const PRIV = PRIV_NAMES;
/** Instructions from pc on shown in the machine view. */
const LISTING = 10;

const post = (m: FromWorker, transfer?: Transferable[]) => scope.postMessage(m, transfer);

// --- the replay open now

let replay: BrowserReplay | undefined;
let name = '';
let state: ReplayState = 'idle';
let error: string | undefined;
let divergence: Divergence | undefined;
let exit: { kind: string; status: number } | undefined;
let warnings: string[] = [];
let openMs: number | undefined;
/** Bumped by each open: a slice scheduled for an older replay does nothing. */
let generation = 0;
/** The furthest icount the replay reached with its console bytes sent (see the top). */
let frontier = 0;
/** Console bytes are dropped (re-run after a seek back), not sent. */
let holdBack = false;
const out: number[] = [];
let budget = 1_000_000;
let mipsLimit: number | null = null;
/** Pacing under a speed limit: where and when the current run began. */
let paceAt = 0;
let paceIcount = 0;
/** Recent (time, icount) samples while running, for the MIPS figure. */
const speed = new SpeedMeter();
let lastStatus = 0;
/** Milliseconds spent replaying forwards and instructions replayed (not seeks): the average speed. */
let runMs = 0;
let runIcount = 0;
let scheduled = false;
/** The icount of the last machine view sent (-1: none for this replay). */
let machineSentAt = -1;
/** Frames sent and disk requests met going forwards past the frontier (re-runs add nothing). */
let actions = new GuestActionLog();
/** The frontier last told to the page with the actions. */
let actionsTo = -1;

const consoleByte = (b: number) => {
  if (!holdBack) out.push(b);
};

/** What the guest did since the last post, and how far the observed tracks now reach. */
function postActions(): void {
  const added = actions.take();
  if (!added.length && frontier === actionsTo) return;
  actionsTo = frontier;
  post(
    { kind: 'actions', added, observedTo: frontier },
    added.map((a) => a.icounts.buffer),
  );
}

function flushConsole(): void {
  if (!out.length) return;
  const bytes = Uint8Array.from(out);
  out.length = 0;
  post({ kind: 'console', bytes }, [bytes.buffer]);
}

function icount(): number {
  return replay ? replay.vm.cpu.icount : 0;
}

function mips(): number {
  return state === 'running' ? speed.mips : 0;
}

function sendStatus(): void {
  flushConsole();
  postActions();
  lastStatus = performance.now();
  const m: WorkerStatus = {
    kind: 'status',
    state,
    name,
    icount: icount(),
    lastIcount: replay?.lastIcount ?? 0,
    digestsVerified: replay?.replayer.digestsChecked ?? 0,
    mips: mips(),
    avgMips: runMs > 0 ? runIcount / runMs / 1000 : 0,
  };
  if (error !== undefined) m.error = error;
  if (divergence) m.divergence = divergence;
  if (warnings.length) m.warnings = warnings;
  if (exit) m.exit = exit;
  if (openMs !== undefined) m.openMs = openMs;
  post(m);
  if (replay && state !== 'running' && state !== 'loading' && icount() !== machineSentAt)
    postMachine();
}

function setState(s: ReplayState): void {
  state = s;
  if (s !== 'running') speed.reset();
  sendStatus();
}

function fail(message: string): void {
  error = message;
  setState('error');
}

/** The replay stopped (not 'running'): say how. */
function ended(st: ReplayStatus): void {
  switch (st.state) {
    case 'running':
      return;
    case 'paused':
      setState('paused');
      return;
    case 'done':
      exit = { kind: st.exitKind, status: st.status };
      setState('done');
      return;
    case 'truncated': {
      const why = replay?.damage ?? 'the recorder was stopped before it could finish';
      fail(
        `the recording ends at icount ${st.icount} without an end marker (${why}); replayed up to there`,
      );
      return;
    }
    case 'diverged': {
      const d = st.divergence;
      if (d.host) {
        fail(`the replay stopped at icount ${d.icount}: ${d.reason}`);
        return;
      }
      divergence = { icount: d.icount, pc: d.pc, reason: d.reason, details: d.details };
      error = `replay diverged at icount ${d.icount}, pc ${d.pc}: ${d.reason}`;
      setState('diverged');
      return;
    }
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message || e.name : String(e);
}

// --- images

const fetchImage = serverImageLoader(scope.location.href, (text) => post({ kind: 'log', text }));

// --- running

function schedule(delayMs = 0): void {
  if (scheduled) return;
  scheduled = true;
  const gen = generation;
  const go = () => {
    scheduled = false;
    if (gen === generation) slice();
  };
  if (delayMs > 0) setTimeout(go, delayMs);
  else nextTask(go);
}

function startPacing(): void {
  paceAt = performance.now();
  paceIcount = icount();
  speed.reset(paceAt, paceIcount);
}

/** One slice of replay, then the next one scheduled (while running). */
function slice(): void {
  if (state !== 'running' || !replay) return;
  const { vm, replayer } = replay;
  const cpu = vm.cpu;
  let n = budget;
  if (mipsLimit !== null) n = Math.min(n, Math.max(10_000, mipsLimit * 1e6 * (SLICE_MS / 1000)));
  const t0 = performance.now();
  const from = cpu.icount;
  let st: ReplayStatus;
  try {
    const behind = from < frontier;
    // Re-running what the page has seen: stop exactly at the frontier, bytes held back.
    replayer.pauseAt(behind ? frontier : Infinity);
    holdBack = behind;
    try {
      st = replayer.step(n);
    } finally {
      holdBack = false;
      replayer.pauseAt(Infinity);
    }
    if (st.state === 'paused' && !st.debug) st = { state: 'running' };
  } catch (e) {
    fail(`the replay failed at icount ${cpu.icount}: ${message(e)}`);
    return;
  }
  const t1 = performance.now();
  if (cpu.icount > frontier) frontier = cpu.icount;
  const ran = cpu.icount - from;
  const ms = t1 - t0;
  if (ran > 0 && ms > 0.5)
    budget = Math.max(50_000, Math.min(100_000_000, Math.round((ran / ms) * SLICE_MS)));
  else if (ran > 0) budget = Math.min(100_000_000, budget * 2);
  runMs += ms;
  runIcount += ran;
  speed.add(t1, cpu.icount);
  if (st.state !== 'running') {
    ended(st);
    return;
  }
  flushConsole();
  if (t1 - lastStatus >= STATUS_MS) sendStatus();
  let delay = 0;
  if (mipsLimit !== null) {
    const allowed = paceIcount + (t1 - paceAt) * mipsLimit * 1000;
    if (cpu.icount > allowed) delay = (cpu.icount - allowed) / (mipsLimit * 1000);
  }
  schedule(delay);
}

function registers(): Record<string, string> {
  const c = replay!.vm.cpu;
  const r: Record<string, string> = {};
  for (let i = 0; i < 32; i++) r[`x${i}`] = hex64(c.regs[i << 1], c.regs[(i << 1) | 1]);
  r.pc = hex64(c.pcLo, c.pcHi);
  r.priv = PRIV[c.priv] ?? String(c.priv);
  for (const n of REPORTED_CSRS) {
    const v = c.readCsr(CSR[n]);
    if (v) r[n] = hex64(v.lo, v.hi);
  }
  return r;
}

function seek(target: number, id: number | undefined): void {
  const t0 = performance.now();
  if (!replay) {
    post({
      kind: 'seeked',
      icount: 0,
      id,
      registers: {},
      ms: 0,
      error: error ?? 'no recording is open',
    });
    return;
  }
  const { replayer, vm } = replay;
  if (state === 'running') state = 'paused';
  let st: ReplayStatus;
  try {
    if (target <= frontier) {
      holdBack = true;
      try {
        st = replayer.seek(target);
      } finally {
        holdBack = false;
      }
    } else {
      st = { state: 'paused', icount: vm.cpu.icount };
      if (vm.cpu.icount !== frontier || replayer.status.state !== 'running') {
        holdBack = true;
        try {
          st = replayer.seek(frontier);
        } finally {
          holdBack = false;
        }
      }
      if (st.state === 'paused') st = replayer.runTo(target);
      if (vm.cpu.icount > frontier) frontier = vm.cpu.icount;
    }
  } catch (e) {
    fail(`seeking to icount ${target} failed: ${message(e)}`);
    post({ kind: 'seeked', icount: vm.cpu.icount, id, registers: {}, ms: 0, error: error! });
    return;
  }
  // A seek back undoes the end or divergence that was met.
  error = undefined;
  divergence = undefined;
  exit = undefined;
  if (st.state === 'running') st = { state: 'paused', icount: vm.cpu.icount };
  ended(st);
  post({
    kind: 'seeked',
    icount: vm.cpu.icount,
    id,
    registers: registers(),
    ms: performance.now() - t0,
    ...(state === 'error' || state === 'diverged' ? { error } : {}),
  });
}

// --- what the page shows of the recording and the machine

/** Console input as a person reads it: printable ASCII as is, the rest escaped. */
function showText(data: Uint8Array): string {
  let s = '';
  for (const b of data.subarray(0, 200)) {
    if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else if (b === 10) s += '\\n';
    else if (b === 13) s += '\\r';
    else if (b === 9) s += '\\t';
    else s += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return data.length > 200 ? `${s}… (${data.length} bytes)` : s;
}

/** A span of guest time in words (ticks of the 10 MHz timebase). */
function showTicks(ticks: number): string {
  const s = ticks / TIMEBASE_HZ;
  if (s >= 1) return `${s.toFixed(3)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(3)} ms`;
  return `${(s * 1e6).toFixed(1)} µs`;
}

/**
 * The idle ticks of the clock in the snapshot a recording starts from, when
 * the recording carries it (read from the snapshot's JSON head, not its
 * RAM); undefined when it does not, or it cannot be read (the open says why).
 */
function embeddedSnapshotIdleTicks(rec: ParsedRecording): number | undefined {
  if (!rec.header.snapshot?.embedded) return undefined;
  try {
    const snap = rec.images.get('snapshot');
    if (!snap || snap.length < 16 || new TextDecoder().decode(snap.subarray(0, 8)) !== 'VMRSSNAP')
      return undefined;
    const jlen = new DataView(snap.buffer, snap.byteOffset, snap.byteLength).getUint32(12, true);
    if (16 + jlen > snap.length) return undefined;
    const head = JSON.parse(new TextDecoder().decode(snap.subarray(16, 16 + jlen))) as {
      state?: { clock?: { idleTicks?: unknown } };
    };
    const t = head.state?.clock?.idleTicks;
    return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every event of the recording, by kind, read chunk by chunk (sent to the
 * page once), and the map from icount to guest time (protocol.ts GuestClock).
 *
 * Guest time needs the clock's idle ticks at the start: 0 for a boot. A
 * recording that starts from a snapshot has the snapshot's; they are read
 * here when the snapshot is embedded (its JSON head). Otherwise the snapshot
 * is fetched only after this message is sent (the timeline does not wait for
 * the images), so guest time before the first idle jump is a guess there:
 * the idle ticks after that jump (an upper bound, by at most that jump's
 * length: guest time runs on through it without a step), or 0 without
 * jumps. From the first jump on it is exact: a jump says the time.
 */
function postEvents(rec: ParsedRecording): void {
  const t0 = performance.now();
  const consoleIn = new IcountList('console in', true);
  const netIn = new IcountList('net frames in', true);
  const netLink = new IcountList('net link', true);
  const entropy = new IcountList('entropy', false);
  const idle = new IcountList('idle jumps', true);
  /** The ticks each idle jump goes to (an Icounts for its growing array, beside `idle`). */
  const jumpTicks = new IcountList('idle jump ticks', false);
  const diskErrors = new IcountList('disk errors', true);
  const digests = new IcountList('digests', false);
  const checkpoints = new IcountList('checkpoints', false);
  const end = new IcountList('end', true);
  const log = rec.events;
  const ipt = rec.header.machine.insnsPerTick;
  const startIcount = rec.header.startIcount ?? 0;
  const startIdle = rec.header.snapshot ? embeddedSnapshotIdleTicks(rec) : 0;
  /** The idle ticks where the reading is (undefined: not known yet, before the first jump). */
  let idleTicks = startIdle;
  let damagedFrom: number | undefined;
  /** Where the events stop being read, when before their end (damage). */
  let readTo: number | undefined;
  let ic = startIcount;
  try {
    for (let k = 0; k < log.chunks.length; k++) {
      const raw = log.raw(k);
      if (!raw) {
        damagedFrom = readTo = log.chunks[k].icountBefore;
        break;
      }
      const dec = new EventDecoder(raw);
      ic = log.chunks[k].icountBefore;
      while (!dec.done) {
        const type = raw[dec.pos] as EventType;
        if (type === EventType.Entropy || type === EventType.Digest) {
          dec.skip();
          ic += dec.delta;
          (type === EventType.Entropy ? entropy : digests).push(ic);
          continue;
        }
        const ev = dec.next(ic);
        ic = ev.icount;
        switch (type) {
          case EventType.Console:
          case EventType.Hvc:
            consoleIn.push(
              ic,
              `${type === EventType.Hvc ? 'hvc0' : 'ttyS0'}: "${showText(ev.data)}"`,
            );
            break;
          case EventType.NetFrame:
            netIn.push(ic, `NIC ${ev.arg}: ${describeFrame(ev.data)}`);
            break;
          case EventType.NetLink:
            netLink.push(ic, `NIC ${ev.arg}: link ${ev.value ? 'up' : 'down'}`);
            break;
          case EventType.IdleJump: {
            const skipped =
              idleTicks === undefined
                ? ''
                : ` (${showTicks(ev.value - Math.floor(ic / ipt) - idleTicks)} idle skipped)`;
            idle.push(ic, `guest time jumps to ${(ev.value / TIMEBASE_HZ).toFixed(7)} s${skipped}`);
            jumpTicks.push(ev.value);
            idleTicks = ev.value - Math.floor(ic / ipt);
            break;
          }
          case EventType.DiskError:
            diskErrors.push(ic, `disk ${ev.arg}, call ${ev.value}`);
            break;
          case EventType.End:
            end.push(ic, `${END_KINDS[ev.arg] ?? `end kind ${ev.arg}`}, status ${ev.value}`);
            break;
        }
      }
    }
  } catch (e) {
    // A chunk that does not decode: the replay says so when it gets there; show what was read.
    readTo = ic;
    post({
      kind: 'log',
      text: `the timeline stops at a chunk that could not be read: ${message(e)}`,
    });
  }
  for (const c of rec.checkpoints) checkpoints.push(c.icount);
  // The guest's own doing, found as the replay passes: a track for each kind of device there is.
  const devices = rec.header.devices;
  const observed = (name: string, has: boolean): EventTrack[] =>
    has ? [{ name, icounts: new Float64Array(0), labels: [], observed: true }] : [];
  const tracks: EventTrack[] = [
    ...[consoleIn, netIn].map((t) => t.slice()),
    ...observed(
      NET_OUT_TRACK,
      devices.some((d) => d.kind === 'net'),
    ),
    ...[netLink, entropy, idle].map((t) => t.slice()),
    ...observed(
      DISK_TRACK,
      devices.some((d) => d.kind === 'blk'),
    ),
    ...[diskErrors, digests, checkpoints, end].map((t) => t.slice()),
  ];
  const jumps = { icounts: idle.a.slice(0, idle.n), ticks: jumpTicks.a.slice(0, jumpTicks.n) };
  const clock: EventsMessage['clock'] = {
    insnsPerTick: ipt,
    hz: TIMEBASE_HZ,
    startIcount,
    startIdleTicks:
      startIdle ?? (jumps.icounts.length ? jumps.ticks[0] - Math.floor(jumps.icounts[0] / ipt) : 0),
    jumpIcounts: jumps.icounts,
    jumpTicks: jumps.ticks,
  };
  if (startIdle === undefined)
    clock.estimatedBefore = jumps.icounts.length ? jumps.icounts[0] : Infinity;
  if (readTo !== undefined) clock.estimatedAfter = readTo;
  const m: EventsMessage = {
    kind: 'events',
    lastIcount: log.lastIcount ?? 0,
    tracks,
    ms: performance.now() - t0,
    clock,
  };
  if (damagedFrom !== undefined) m.damagedFrom = damagedFrom;
  post(m, [...tracks.map((t) => t.icounts.buffer), jumps.icounts.buffer, jumps.ticks.buffer]);
}

const hex16 = (v: bigint) => v.toString(16).padStart(16, '0');

function postMachine(): void {
  if (!replay) return;
  const vm = replay.vm;
  const c = vm.cpu;
  machineSentAt = c.icount;
  const view = new MachineGuestView(vm);
  const x: string[] = [];
  for (let i = 0; i < 32; i++) x.push(hex64(c.regs[i << 1], c.regs[(i << 1) | 1]).slice(2));
  const csrs: Record<string, string> = {};
  for (const n of REPORTED_CSRS) {
    const v = c.readCsr(CSR[n]);
    if (v) csrs[n] = hex64(v.lo, v.hi).slice(2);
  }
  const listing = listInstructions((a, n) => view.read(a, n), view.pc, LISTING).map((i) => ({
    address: hex16(i.address),
    hex: i.hex,
    length: i.length,
    asm: i.asm,
  }));
  post({
    kind: 'machine',
    icount: c.icount,
    pc: hex64(c.pcLo, c.pcHi).slice(2),
    priv: PRIV[c.priv] ?? String(c.priv),
    x,
    csrs,
    insn: listing[0] ?? null,
    listing,
  });
}

function readMemory(addr: string, id: number): void {
  const a = /^(0x)?([0-9a-f]{1,16})$/i.exec(addr.trim());
  if (!replay || !a) {
    post({
      kind: 'memory',
      id,
      addr,
      physical: null,
      bytes: new Uint8Array(0),
      error: replay ? `'${addr}' is not an address (hex)` : 'no recording is open',
    });
    return;
  }
  const view = new MachineGuestView(replay.vm);
  const va = BigInt(`0x${a[2]}`);
  const pa = view.translate(va);
  const bytes = view.read(va, 256);
  post(
    { kind: 'memory', id, addr: hex16(va), physical: pa === undefined ? null : hex16(pa), bytes },
    [bytes.buffer],
  );
}

async function open(msg: Extract<ToWorker, { kind: 'open' }>): Promise<void> {
  generation++;
  replay = undefined;
  name = msg.name;
  error = undefined;
  divergence = undefined;
  exit = undefined;
  warnings = [];
  openMs = undefined;
  frontier = 0;
  machineSentAt = -1;
  actions = new GuestActionLog();
  actionsTo = -1;
  runMs = 0;
  runIcount = 0;
  out.length = 0;
  setState('loading');
  const t0 = performance.now();
  try {
    const rec = readRecordingBytes(new Uint8Array(msg.recording));
    // The timeline needs only the file: shown before the images are fetched and the machine built.
    postEvents(rec);
    const r = await openBrowserReplay(rec, fetchImage, {
      console: consoleByte,
      netSent: (nic, frame) => {
        if (!holdBack) actions.netSent(nic, frame, icount());
      },
      diskRequest: (disk, r) => {
        if (!holdBack) actions.diskRequest(disk, r, icount());
      },
      verify: true,
      checkpoints: CHECKPOINTS,
    });
    if (msg.engine) r.vm.cpu.engine = msg.engine;
    replay = r;
    warnings = r.warnings;
    frontier = r.vm.cpu.icount;
  } catch (e) {
    fail(e instanceof ReplayOpenError ? e.message : `could not open ${name}: ${message(e)}`);
    return;
  }
  openMs = performance.now() - t0;
  if (msg.play === false) setState('paused');
  else {
    state = 'paused';
    play();
  }
}

function play(): void {
  if (!replay || (state !== 'paused' && state !== 'running')) return;
  startPacing();
  setState('running');
  schedule();
}

// Messages are handled one after another (an open awaits its images; what comes meanwhile waits).
let queue: Promise<void> = Promise.resolve();

function handle(msg: ToWorker): Promise<void> | void {
  switch (msg.kind) {
    case 'open':
      return open(msg);
    case 'play':
      return play();
    case 'pause':
      if (state === 'running') setState('paused');
      return;
    case 'speed':
      mipsLimit = msg.mipsLimit !== null && msg.mipsLimit > 0 ? msg.mipsLimit : null;
      if (state === 'running') startPacing();
      return;
    case 'seek':
      return seek(msg.icount, msg.id);
    case 'memory':
      return readMemory(msg.addr, msg.id);
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  queue = queue
    .then(() => handle(msg))
    .catch((err: unknown) => fail(`internal error: ${message(err)}`));
};

sendStatus();
