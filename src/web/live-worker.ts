/**
 * The live machine's worker: boots the guest `vmrs serve` offers, feeds it
 * what is typed in the page, records it (live-machine.ts) and, when the
 * guest stops or the page stops it, hands the finished recording to the
 * page. Messages: live-protocol.ts.
 */
import { bootLive, type LiveMachine } from './live-machine.js';
import { ReplayOpenError } from './replay-machine.js';
import { serverImageLoader } from './image-fetch.js';
import type { FromLiveWorker, LiveStatus, ToLiveWorker } from './live-protocol.js';
import type { ReplayState } from './protocol.js';
import { SpeedMeter } from './speed-meter.js';
import type { GuestExit } from '../machine/virt.js';
import {
  DEFAULT_CHECKPOINT_EVERY,
  DEFAULT_DIGEST_INTERVAL,
  parseCheckpointSchedule,
} from '../replay/record-settings.js';

const scope = self as unknown as {
  postMessage(message: FromLiveWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToLiveWorker>) => void) | null;
  location: { href: string };
};
const post = (m: FromLiveWorker, transfer?: Transferable[]) => scope.postMessage(m, transfer);

/** As `vmrs record`'s defaults. */
const DIGEST_INTERVAL = DEFAULT_DIGEST_INTERVAL;
const CHECKPOINTS = parseCheckpointSchedule(DEFAULT_CHECKPOINT_EVERY);
const STATUS_MS = 200;

let live: LiveMachine | undefined;
let state: ReplayState = 'idle';
let error: string | undefined;
let exit: GuestExit | undefined;
let bootMs: number | undefined;
const out: number[] = [];
const speed = new SpeedMeter();
let lastStatus = 0;

const message = (e: unknown) => (e instanceof Error ? e.message || e.name : String(e));

function flushConsole(): void {
  if (!out.length) return;
  const bytes = Uint8Array.from(out);
  out.length = 0;
  post({ kind: 'console', bytes }, [bytes.buffer]);
}

function sendStatus(): void {
  flushConsole();
  const now = performance.now();
  lastStatus = now;
  const icount = live?.vm.cpu.icount ?? 0;
  speed.add(now, icount);
  const m: LiveStatus = {
    kind: 'status',
    state,
    icount,
    mips: state === 'running' ? speed.mips : 0,
    events: live?.recorder.events ?? 0,
    digests: live?.recorder.digestsTaken ?? 0,
    bytes: live?.size ?? 0,
  };
  if (error !== undefined) m.error = error;
  if (exit) m.exit = { kind: exit.kind, status: exit.status };
  if (bootMs !== undefined) m.bootMs = bootMs;
  post(m);
}

function setState(s: ReplayState): void {
  state = s;
  speed.reset();
  sendStatus();
}

function recordingName(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `live-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.vmrs`;
}

async function boot(msg: Extract<ToLiveWorker, { kind: 'boot' }>): Promise<void> {
  if (state !== 'idle') return;
  setState('loading');
  const t0 = performance.now();
  try {
    const fromServer = serverImageLoader(scope.location.href, (text) =>
      post({ kind: 'log', text }),
    );
    const local = msg.local ?? {};
    live = await bootLive(
      msg.offer,
      // The images chosen from the person's disk came with the message; the rest from the server.
      (name, ref, what) =>
        local[name] ? Promise.resolve(new Uint8Array(local[name])) : fromServer(name, ref, what),
      {
        console: (b) => out.push(b),
        embed: msg.embed,
        carry: new Set(Object.keys(local)),
        digestInterval: DIGEST_INTERVAL,
        checkpoints: CHECKPOINTS,
        afterSlice: () => {
          flushConsole();
          if (performance.now() - lastStatus >= STATUS_MS) sendStatus();
        },
      },
    );
  } catch (e) {
    error = e instanceof ReplayOpenError ? e.message : `could not boot the guest: ${message(e)}`;
    setState('error');
    return;
  }
  if (msg.engine) live.vm.cpu.engine = msg.engine;
  bootMs = performance.now() - t0;
  setState('running');
  const { loop, recorder, vm } = live;
  let failed: unknown;
  try {
    exit = await loop.run();
  } catch (e) {
    // An internal error: what was recorded so far still replays, up to here.
    failed = e;
  }
  flushConsole();
  try {
    if (failed === undefined) {
      recorder.end(exit!);
      await recorder.close();
    } else {
      recorder.flush();
      await recorder.settle();
    }
  } catch (e) {
    failed ??= e;
  }
  const bytes = live.bytes();
  post({ kind: 'recording', name: recordingName(), bytes }, [bytes.buffer]);
  if (failed !== undefined) {
    error = `the machine failed at icount ${vm.cpu.icount}: ${message(failed)}; the recording ends there`;
    setState('error');
  } else setState('done');
}

function handle(msg: ToLiveWorker): Promise<void> | void {
  switch (msg.kind) {
    case 'boot':
      return boot(msg);
    case 'input':
      if (state !== 'running' || !live || !msg.bytes.length) return;
      live.gate.console(msg.bytes);
      live.loop.notifyInput();
      return;
    case 'stop':
      live?.loop.stop({ kind: 'stopped', status: 0 });
      return;
  }
}

scope.onmessage = (e) => {
  try {
    void Promise.resolve(handle(e.data)).catch((err: unknown) => {
      error = `internal error: ${message(err)}`;
      setState('error');
    });
  } catch (err) {
    error = `internal error: ${message(err)}`;
    setState('error');
  }
};

sendStatus();
