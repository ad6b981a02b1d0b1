/**
 * What one soak run does, derived from the soak's seed and the run's number
 * alone: the machines (memory, digest interval, devices), the workload typed
 * into each, and, in kill mode, when the recorder is killed. Host timing
 * still varies from one repetition to the next; everything else repeats.
 */
import { Rng, runSeed } from './random.js';

export type NetMode = 'none' | 'user' | 'user-hostfwd' | 'wire-listen' | 'wire-connect';
export type DiskMode = 'none' | 'plain' | 'snapshot' | 'overlay';
export type HvcMode = 'none' | 'stdio' | 'file';

/** How a line reaches the console: all at once, key by key, or in bursts. */
export interface Typing {
  mode: 'paste' | 'keys' | 'bursts';
  maxDelayMs: number;
  maxBurst: number;
  /** Seeds the delays between keys. */
  seed: number;
}

export type ActionKind =
  | 'echo'
  | 'cpu'
  | 'urandom'
  | 'proc'
  | 'sleep'
  | 'ctrl-c'
  | 'seq'
  | 'hwrng'
  | 'disk-write'
  | 'disk-read'
  | 'disk-raw'
  | 'disk-rm'
  | 'wget'
  | 'ping-gw'
  | 'httpd'
  | 'other-console';

export interface Action {
  kind: ActionKind;
  /** The action's size (bytes, KiB, iterations, tenths of a second... by kind). */
  n: number;
  /** Marker number: the action's output lies between B-<id> and E-<id>. */
  id: number;
  /** Real time the guest is left alone before this is typed. */
  pauseMs: number;
  typing: Typing;
  /** Typed while the previous action still runs (the guest is busy). */
  typeAhead: boolean;
}

/** Traffic between the two ends of a wire. */
export type WireOp =
  | { op: 'ping'; from: 0 | 1; count: number; id: number }
  | { op: 'http'; server: 0 | 1; kib: number; id: number };

export interface VmPlan {
  name: 'a' | 'b';
  memory: string;
  digestInterval: number;
  insnsPerTick: number;
  rng: boolean;
  hvc: HvcMode;
  disk: DiskMode;
  diskMiB: number;
  embed: boolean;
  net: NetMode;
  actions: Action[];
  /** With user-hostfwd: host requests to the guest's web server, ms apart. */
  hostFetchGapsMs: number[];
  /** A line typed while the guest boots, before any shell reads it (ms after the start). */
  bootInput?: { afterMs: number; id: number; typing: Typing };
  end: 'poweroff' | 'sigterm';
}

export interface KillPlan {
  /** boot: before the shell prompt; workload: amid running commands; idle: after them, guest idle. */
  phase: 'boot' | 'workload' | 'idle';
  /** ms after the recorder starts (boot), the workload starts (workload), or it went idle (idle). */
  afterMs: number;
}

export interface RunPlan {
  seed: number;
  run: number;
  vms: VmPlan[];
  /** Bytes the host's payload server holds (wget fetches prefixes of it). */
  payloadBytes: number;
  /** Seeds the payload's bytes. */
  payloadSeed: number;
  wire: WireOp[];
  /** With a wire: ms the connecting end starts after the listening one (negative: before it). */
  peerStartMs: number;
  /** With a wire: which end stops first, and how long before the other (its link goes down meanwhile). */
  firstToEnd: 0 | 1;
  endGapMs: number;
  kill?: KillPlan;
}

const MEMORY = ['128M', '192M', '256M', '256M', '384M', '512M', '1G'] as const;

function digestInterval(r: Rng): number {
  return r.weighted<() => number>([
    [() => 10_000_000, 3],
    [() => 1_000_000, 1],
    [() => 2_500_000, 1],
    [() => 50_000_000, 1],
    [() => r.logInt(500_000, 30_000_000), 3],
  ])();
}

function typing(r: Rng): Typing {
  const mode = r.weighted<Typing['mode']>([
    ['paste', 35],
    ['keys', 40],
    ['bursts', 25],
  ]);
  return {
    mode,
    maxDelayMs: mode === 'keys' ? r.logInt(2, 150) : r.logInt(5, 300),
    maxBurst: r.int(2, 12),
    seed: r.u32(),
  };
}

function pause(r: Rng): number {
  return r.weighted<() => number>([
    [() => 0, 40],
    [() => r.int(0, 500), 30],
    [() => r.int(500, 4000), 30],
  ])();
}

function actionKinds(vm: VmPlan): (readonly [ActionKind, number])[] {
  const k: (readonly [ActionKind, number])[] = [
    ['echo', 3],
    ['cpu', 4],
    ['urandom', 3],
    ['proc', 2],
    ['sleep', 3],
    ['ctrl-c', 1],
    ['seq', 2],
  ];
  if (vm.rng) k.push(['hwrng', 3]);
  if (vm.disk !== 'none') k.push(['disk-write', 4], ['disk-read', 3], ['disk-raw', 2]);
  if (vm.net === 'user' || vm.net === 'user-hostfwd') k.push(['wget', 5], ['ping-gw', 1]);
  if (vm.hvc !== 'none') k.push(['other-console', 2]);
  return k;
}

function actionSize(r: Rng, kind: ActionKind, payloadBytes: number): number {
  switch (kind) {
    case 'echo':
      return r.int(1, 1_000_000);
    case 'cpu':
      return r.logInt(300, 6000); // shell loop iterations
    case 'urandom':
      return r.logInt(1, 2048); // KiB
    case 'sleep':
      return r.int(1, 25); // tenths of a second
    case 'ctrl-c':
      return r.int(50, 2000); // ms before ^C
    case 'seq':
      return r.logInt(10, 3000); // lines
    case 'hwrng':
      return r.logInt(16, 65536); // bytes
    case 'disk-write':
      return r.logInt(4, 4096); // KiB
    case 'disk-raw':
      return r.logInt(64, 8192); // KiB
    case 'wget':
      return r.logInt(1024, payloadBytes); // bytes
    case 'ping-gw':
      return r.int(1, 3);
    case 'other-console':
      return r.logInt(1, 200); // lines
    default:
      return 0;
  }
}

function makeActions(r: Rng, vm: VmPlan, count: number, payloadBytes: number): Action[] {
  const kinds = actionKinds(vm);
  const base = r.int(100_000, 800_000);
  const out: Action[] = [];
  let diskKiB = 0;
  const add = (kind: ActionKind, n: number) => {
    const prev = out[out.length - 1];
    // ^C discards typed-ahead input, so nothing is typed ahead of or during it.
    const typeAhead =
      !!prev && kind !== 'ctrl-c' && prev.kind !== 'ctrl-c' && kind !== 'httpd' && r.chance(0.25);
    out.push({
      kind,
      n,
      id: base + out.length * 7,
      pauseMs: pause(r),
      typing: typing(r),
      typeAhead,
    });
  };
  if (vm.net === 'user-hostfwd') add('httpd', 0);
  while (out.length < count) {
    const kind = r.weighted(kinds);
    const n = actionSize(r, kind, payloadBytes);
    if (kind === 'disk-write') {
      // Keep the filesystem from filling up: clear it first when it would.
      if ((diskKiB + n) * 1.3 > vm.diskMiB * 1024) {
        add('disk-rm', 0);
        diskKiB = 0;
      }
      diskKiB += n;
    }
    add(kind, n);
  }
  return out;
}

function vmPlan(r: Rng, name: 'a' | 'b', net: NetMode, payloadBytes: number): VmPlan {
  const vm: VmPlan = {
    name,
    memory: r.pick(MEMORY),
    digestInterval: digestInterval(r),
    insnsPerTick: r.weighted([
      [10, 6],
      [5, 1],
      [13, 1],
      [20, 1],
    ]),
    rng: r.chance(0.4),
    hvc: r.weighted<HvcMode>([
      ['none', 6],
      ['file', 2],
      ['stdio', 2],
    ]),
    disk: r.weighted<DiskMode>([
      ['none', 35],
      ['snapshot', 25],
      ['overlay', 25],
      ['plain', 15],
    ]),
    diskMiB: r.pick([16, 24, 32]),
    embed: r.chance(0.1),
    net,
    actions: [],
    hostFetchGapsMs: [],
    end: r.chance(0.12) ? 'sigterm' : 'poweroff',
  };
  vm.actions = makeActions(r, vm, r.int(3, 10), payloadBytes);
  if (r.chance(0.2))
    vm.bootInput = { afterMs: r.int(0, 5000), id: r.int(1000, 9999), typing: typing(r) };
  if (net === 'user-hostfwd')
    vm.hostFetchGapsMs = Array.from({ length: r.int(1, 5) }, () => r.int(0, 3000));
  return vm;
}

/** The plan of run `run` of soak `seed`; with `kill`, a kill-mode run (one machine, no wire). */
export function planRun(seed: number, run: number, kill = false): RunPlan {
  const r = new Rng(runSeed(seed, run));
  const payloadBytes = r.pick([1 << 20, 2 << 20, 4 << 20]);
  const payloadSeed = r.u32();
  let net = r.weighted<NetMode | 'wire'>([
    ['none', 35],
    ['user', 30],
    ['user-hostfwd', 20],
    ['wire', 15],
  ]);
  if (kill && net === 'wire') net = 'user';
  const plan: RunPlan = {
    seed,
    run,
    vms: [],
    payloadBytes,
    payloadSeed,
    wire: [],
    peerStartMs: 0,
    firstToEnd: 0,
    endGapMs: 0,
  };
  if (net === 'wire') {
    plan.vms.push(vmPlan(r, 'a', 'wire-listen', payloadBytes));
    plan.vms.push(vmPlan(r, 'b', 'wire-connect', payloadBytes));
    const base = r.int(100_000, 800_000);
    const ops = r.int(2, 4);
    for (let i = 0; i < ops; i++) {
      const id = base + i * 7;
      plan.wire.push(
        r.chance(0.5)
          ? { op: 'ping', from: r.chance(0.5) ? 1 : 0, count: r.int(1, 4), id }
          : { op: 'http', server: r.chance(0.5) ? 1 : 0, kib: r.logInt(1, 1024), id },
      );
    }
    // The link comes up before, during or after the listening end's boot.
    plan.peerStartMs = r.weighted<() => number>([
      [() => 0, 1],
      [() => -r.int(0, 1500), 1],
      [() => r.int(0, 12_000), 3],
    ])();
    plan.firstToEnd = r.chance(0.5) ? 1 : 0;
    plan.endGapMs = r.int(0, 3000);
  } else plan.vms.push(vmPlan(r, 'a', net, payloadBytes));
  if (kill) {
    // A stream of its own: a kill-mode run records the session of the plain run (a wire's becomes --net user).
    const k = new Rng(runSeed(seed, run, 1));
    const phase = k.weighted<KillPlan['phase']>([
      ['boot', 3],
      ['workload', 4],
      ['idle', 3],
    ]);
    plan.kill = {
      phase,
      afterMs:
        phase === 'boot'
          ? k.int(0, 6000)
          : phase === 'workload'
            ? k.int(0, 8000)
            : k.int(300, 5000),
    };
  }
  return plan;
}

/** One line that says what a run does. */
export function describePlan(p: RunPlan): string {
  const vms = p.vms.map((v) => {
    const dev = [
      `m=${v.memory}`,
      `di=${v.digestInterval}`,
      v.insnsPerTick !== 10 ? `ipt=${v.insnsPerTick}` : '',
      v.rng ? 'rng' : '',
      v.hvc !== 'none' ? `hvc=${v.hvc}` : '',
      v.disk !== 'none' ? `disk=${v.disk}` : '',
      v.net !== 'none' ? `net=${v.net}` : '',
      v.embed ? 'embed' : '',
    ].filter(Boolean);
    const acts = v.actions.map((a) => (a.typeAhead ? '+' : '') + a.kind).join(',');
    const early = v.bootInput ? `boot-input@${v.bootInput.afterMs}ms,` : '';
    return `${v.name}[${dev.join(' ')}; ${early}${acts}; ${v.end}]`;
  });
  const wire = p.wire.length
    ? ` wire[b starts ${p.peerStartMs} ms after a; ${p.wire.map((w) => w.op).join(',')}; ${'ab'[p.firstToEnd]} ends ${p.endGapMs} ms first]`
    : '';
  const kill = p.kill ? ` kill[${p.kill.phase}+${p.kill.afterMs}ms]` : '';
  return vms.join(' ') + wire + kill;
}
