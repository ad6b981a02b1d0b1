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
import type { ImageRef } from '../replay/log-format.js';
import type { ReplayStatus } from '../replay/replayer.js';
import { CSR } from '../cpu/csr-numbers.js';
import {
  ReplayOpenError,
  openBrowserReplay,
  readRecordingBytes,
  type BrowserReplay,
} from './replay-machine.js';
import type { Divergence, FromWorker, ReplayState, ToWorker, WorkerStatus } from './protocol.js';

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
const PRIV = ['U', 'S', '?', 'M'];
const REPORTED_CSRS = [
  'mstatus',
  'mepc',
  'mcause',
  'mtval',
  'sstatus',
  'sepc',
  'scause',
  'stval',
  'satp',
  'mip',
  'mie',
] as const;

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
  runMs = 0;
  runIcount = 0;
  out.length = 0;
  setState('loading');
  const t0 = performance.now();
  try {
    const rec = readRecordingBytes(new Uint8Array(msg.recording));
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
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  queue = queue
    .then(() => handle(msg))
    .catch((err: unknown) => fail(`internal error: ${message(err)}`));
};

sendStatus();
