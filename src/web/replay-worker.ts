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
import type { ImageRef, ParsedRecording } from '../replay/log-format.js';
import type { ReplayStatus } from '../replay/replayer.js';
import { CSR } from '../cpu/csr-numbers.js';
import { EventDecoder } from '../replay/event-log.js';
import { END_KINDS, EventType } from '../replay/events.js';
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
let samples: { t: number; icount: number }[] = [];
let lastStatus = 0;
/** Milliseconds spent replaying forwards and instructions replayed (not seeks): the average speed. */
let runMs = 0;
let runIcount = 0;
let scheduled = false;
/** The icount of the last machine view sent (-1: none for this replay). */
let machineSentAt = -1;

const consoleByte = (b: number) => {
  if (!holdBack) out.push(b);
};

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
  if (state !== 'running' || samples.length < 2) return 0;
  const a = samples[0];
  const b = samples[samples.length - 1];
  return b.t > a.t ? (b.icount - a.icount) / (b.t - a.t) / 1000 : 0;
}

function sendStatus(): void {
  flushConsole();
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
  if (s !== 'running') samples = [];
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

const imageCache = new Map<string, Uint8Array>();

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

/** An image the recording names but does not carry, from the server (checked by the caller). */
async function fetchImage(_name: string, ref: ImageRef, what: string): Promise<Uint8Array> {
  const cached = imageCache.get(ref.sha256);
  if (cached) return cached;
  const label = `${what} '${ref.path}' (sha256 ${ref.sha256.slice(0, 16)}…)`;
  post({ kind: 'log', text: `fetching ${what} ${ref.path} (${fmtBytes(ref.size)})` });
  let res: Response;
  try {
    res = await fetch(new URL(`images/${ref.sha256}`, scope.location.href));
  } catch (e) {
    throw new ReplayOpenError(`${label} could not be fetched: ${message(e)}`);
  }
  if (!res.ok) {
    let why = '';
    try {
      why = (await res.text()).trim().slice(0, 300);
    } catch {
      // no body
    }
    throw new ReplayOpenError(
      `${label} is not in the recording and the server does not have it (HTTP ${res.status}${why ? `: ${why}` : ''})`,
    );
  }
  const data = new Uint8Array(await res.arrayBuffer());
  imageCache.set(ref.sha256, data);
  return data;
}

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
  else yieldThen(go);
}

/** Run `f` as a new task, soon (a MessageChannel: setTimeout 0 is clamped to 4 ms when nested). */
const channel = new MessageChannel();
const yielded: (() => void)[] = [];
channel.port1.onmessage = () => yielded.shift()?.();
function yieldThen(f: () => void): void {
  yielded.push(f);
  channel.port2.postMessage(null);
}

function startPacing(): void {
  paceAt = performance.now();
  paceIcount = icount();
  samples = [{ t: paceAt, icount: paceIcount }];
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
  samples.push({ t: t1, icount: cpu.icount });
  while (samples.length > 2 && t1 - samples[0].t > 1500) samples.shift();
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

/** A growing list of icounts (a Float64Array that doubles). */
class Icounts {
  a = new Float64Array(64);
  n = 0;
  labels: string[] | undefined;
  constructor(
    readonly name: string,
    labelled: boolean,
  ) {
    if (labelled) this.labels = [];
  }
  push(icount: number, label?: string): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = icount;
    if (this.labels) this.labels.push(label ?? '');
  }
  track(): EventTrack {
    const t: EventTrack = { name: this.name, icounts: this.a.slice(0, this.n) };
    if (this.labels) t.labels = this.labels;
    return t;
  }
}

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

/** Every event of the recording, by kind, read chunk by chunk (sent to the page once). */
function postEvents(rec: ParsedRecording): void {
  const t0 = performance.now();
  const consoleIn = new Icounts('console in', true);
  const netIn = new Icounts('net frames in', true);
  const netLink = new Icounts('net link', true);
  const entropy = new Icounts('entropy', false);
  const idle = new Icounts('idle jumps', true);
  const diskErrors = new Icounts('disk errors', true);
  const digests = new Icounts('digests', false);
  const checkpoints = new Icounts('checkpoints', false);
  const end = new Icounts('end', true);
  const log = rec.events;
  let damagedFrom: number | undefined;
  try {
    for (let k = 0; k < log.chunks.length; k++) {
      const raw = log.raw(k);
      if (!raw) {
        damagedFrom = log.chunks[k].icountBefore;
        break;
      }
      const dec = new EventDecoder(raw);
      let ic = log.chunks[k].icountBefore;
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
            netIn.push(ic, `NIC ${ev.arg}: ${ev.data.length}-byte frame`);
            break;
          case EventType.NetLink:
            netLink.push(ic, `NIC ${ev.arg}: link ${ev.value ? 'up' : 'down'}`);
            break;
          case EventType.IdleJump:
            idle.push(ic, `virtual time to ${(ev.value / 1e7).toFixed(4)} s`);
            break;
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
    post({
      kind: 'log',
      text: `the timeline stops at a chunk that could not be read: ${message(e)}`,
    });
  }
  for (const c of rec.checkpoints) checkpoints.push(c.icount);
  const all = [consoleIn, netIn, netLink, entropy, idle, diskErrors, digests, checkpoints, end];
  const tracks = all.map((t) => t.track());
  const m: EventsMessage = {
    kind: 'events',
    lastIcount: log.lastIcount ?? 0,
    tracks,
    ms: performance.now() - t0,
  };
  if (damagedFrom !== undefined) m.damagedFrom = damagedFrom;
  post(
    m,
    tracks.map((t) => t.icounts.buffer),
  );
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
  let insn: { hex: string; length: number } | null = null;
  try {
    const b = view.read(view.pc, 4);
    if (b.length >= 2) {
      const length = (b[0] & 3) === 3 ? 4 : 2;
      if (b.length >= length) {
        let hex = '';
        for (let i = length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
        insn = { hex, length };
      }
    }
  } catch {
    // pc not readable: shown as such
  }
  post({
    kind: 'machine',
    icount: c.icount,
    pc: hex64(c.pcLo, c.pcHi).slice(2),
    priv: PRIV[c.priv] ?? String(c.priv),
    x,
    csrs,
    insn,
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
      verify: true,
      checkpoints: CHECKPOINTS,
    });
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
