/**
 * The analyses of `vmrs trace` and `vmrs profile` over one segment of a
 * recording (verify-segment.ts: from a checkpoint to the next, verifying
 * as it goes), as observers of its replay. A whole run is one segment;
 * `--jobs N` and `--queue` run the segments apart, on threads or workers,
 * and the commands merge what each found (trace.ts, profile.ts) into the
 * output of one replay of the whole. What crosses a segment's edge is
 * handed on explicitly: a system call still waiting for its result, the
 * instructions since a profile's last sample.
 *
 * Work and output are plain data (JSON through a job queue).
 */
import type { OpenedReplay } from './open-replay.js';
import type { SegmentObserver } from './verify-segment.js';
import { MachineGuestView } from '../plugin/guest-view.js';
import { PluginHost } from '../plugin/plugin-host.js';
import { TaskLayout, type TaskOffsets } from '../analysis/task-layout.js';
import {
  SyscallTracer,
  fromWire,
  toWire,
  type FirstEvent,
  type PendingWire,
  type TracedCall,
  type TraceFilter,
} from '../analysis/syscall-trace.js';
import type { TrapEvent, XretEvent } from '../plugin/plugin-api.js';
import { kernelStack } from '../analysis/kernel-stack.js';
import { FdPaths, type FileLayout } from '../analysis/fd-paths.js';
import { CSR } from '../cpu/csr-numbers.js';
import { TIMEBASE_HZ } from '../machine/clock.js';

export interface TraceWork {
  kind: 'trace';
  layout: TaskOffsets;
  filter: { pids?: number[]; comms?: string[]; syscalls?: number[] };
  /** Name what file descriptors refer to (`-y`), with these offsets. */
  files?: FileLayout;
  /** Calls entered before the segment: trace only their results (and stop at `until`). */
  seeds?: PendingWire[];
  /** With seeds: the icount by which they have all returned. */
  until?: number;
}

export interface ProfileWork {
  kind: 'profile';
  layout: TaskOffsets;
  /** A sample every `interval` instructions, at icounts that are its multiples. */
  interval: number;
}

export type AnalysisWork = TraceWork | ProfileWork;

export interface TraceOutput {
  kind: 'trace';
  /** [key, line]: the icount each line is written at (Infinity never: calls left are in `pending`). */
  lines: [number, string][];
  /** Calls waiting for their results where the segment ended, oldest first. */
  pending: PendingWire[];
  /** Each task's first act in the segment. */
  firstEvents: [string, FirstEvent][];
}

export interface ProfileOutput {
  kind: 'profile';
  /** The segment's first sample, which also stands for the instructions before the segment since the last sample. */
  first?: [string, number];
  /** The other samples, by key (see profileKey). */
  weights: [string, number][];
  /** Instructions after the last sample, for the next segment's first. */
  tail: number;
}

export type AnalysisOutput = TraceOutput | ProfileOutput;

/** What only a replay in this process can have: lines as they come, a Perfetto trace. */
export interface TraceExtras {
  onLine?: (line: string, key: number) => void;
  onCall?: (c: TracedCall, nowUs: number) => void;
  onTrap?: (t: TrapEvent, nowUs: number) => void;
  onXret?: (x: XretEvent, nowUs: number) => void;
  onInput?: OpenedReplay['replayer']['onInput'];
  /** The guest time now (µs) of the machine attached, for the caller's own hooks. */
  clock?: (nowUs: () => number) => void;
}

const filterOf = (f: TraceWork['filter']): TraceFilter => ({
  pids: f.pids && new Set(f.pids),
  comms: f.comms && new Set(f.comms),
  syscalls: f.syscalls && new Set(f.syscalls),
});

export class TraceObserver implements SegmentObserver {
  private tracer: SyscallTracer | undefined;
  private opened: OpenedReplay | undefined;
  private readonly lines: [number, string][] = [];
  private host: PluginHost | undefined;

  constructor(
    private readonly work: TraceWork,
    private readonly extras: TraceExtras = {},
  ) {}

  attach(opened: OpenedReplay): void {
    this.opened = opened;
    const { vm, replayer } = opened;
    const nowUs = () => vm.now() / (TIMEBASE_HZ / 1e6);
    const x = this.extras;
    x.clock?.(nowUs);
    const guest = new MachineGuestView(vm);
    const write = x.onLine ?? ((line: string, key: number) => this.lines.push([key, line]));
    const tracer = new SyscallTracer(
      guest,
      TaskLayout.known(guest, this.work.layout),
      write,
      filterOf(this.work.filter),
      nowUs,
      this.work.files && new FdPaths(guest, this.work.files),
    );
    if (x.onCall) tracer.onCall = (c) => x.onCall!(c, nowUs());
    if (this.work.seeds) {
      tracer.seed(this.work.seeds.map(fromWire));
      tracer.seedOnly = true;
    }
    this.tracer = tracer;
    const host = new PluginHost(vm, () => {});
    this.host = host;
    void host.add(
      'syscall-trace',
      (vmrs) => {
        vmrs.onTrap((t) => {
          tracer.onTrap(t);
          x.onTrap?.(t, nowUs());
        });
        vmrs.onXret((e) => {
          tracer.onXret(e);
          x.onXret?.(e, nowUs());
        });
      },
      [],
    );
    host.install();
    replayer.onInput = x.onInput;
  }

  nextStop(): number {
    // A seeded replay is done once its calls have all returned.
    return this.work.until !== undefined ? this.work.until + 1 : Infinity;
  }

  stopped(): boolean {
    return true;
  }

  detach(): TraceOutput {
    const { vm, replayer } = this.opened!;
    vm.cpu.hooks = undefined;
    replayer.onInput = undefined;
    // The tracer's own failure (a bug) is the job's error, not a quiet gap in its lines.
    if (this.host?.failure) throw new Error(this.host.failure);
    const t = this.tracer!;
    return {
      kind: 'trace',
      lines: this.lines,
      pending: t.pendingCalls().map(toWire),
      firstEvents: [...t.firstEvents].map(([task, e]) => [task.toString(), e]),
    };
  }
}

/** The kernel's image on riscv64 (KERNEL_LINK_ADDR up): where a frame's return address may point. */
const KERNEL_TEXT = 0xffffffff80000000n;

/**
 * A sample's key: "comm\tpriv\tpc,pc,…" — the task's name, the privilege
 * level, and the pcs (hex) of its stack, innermost first (the kernel's
 * from its frame pointers; one for user code and firmware).
 */
export function profileKey(guest: MachineGuestView, layout: TaskLayout): string {
  const priv = guest.priv;
  if (priv === 'M') return `[firmware]\tM\t${guest.pc.toString(16)}`;
  const task = priv === 'U' ? guest.csr(CSR.sscratch) : guest.x('tp');
  // Early in the boot the task has no name yet (or tp no task): '?'.
  const comm = (task && layout.commOf(task)) || '?';
  const pcs = priv === 'U' ? [guest.pc] : kernelStack(guest, (pc) => pc >= KERNEL_TEXT);
  return `${comm}\t${priv}\t${pcs.map((p) => p.toString(16)).join(',')}`;
}

export class ProfileObserver implements SegmentObserver {
  private guest: MachineGuestView | undefined;
  private layout: TaskLayout | undefined;
  private next = 0;
  private last = 0;
  private first: [string, number] | undefined;
  private readonly weights = new Map<string, number>();

  constructor(private readonly work: ProfileWork) {}

  attach(opened: OpenedReplay): void {
    this.guest = new MachineGuestView(opened.vm);
    this.layout = TaskLayout.known(this.guest, this.work.layout);
    const i = this.work.interval;
    // Where the machine is: the segment's checkpoint, or the recording's start (a snapshot's icount).
    const from = opened.vm.cpu.icount;
    this.last = from;
    this.next = Math.ceil(from / i) * i;
  }

  nextStop(): number {
    return this.next;
  }

  private sample(icount: number): void {
    const key = profileKey(this.guest!, this.layout!);
    const n = icount - this.last;
    this.last = icount;
    if (this.first === undefined) this.first = [key, n];
    else this.weights.set(key, (this.weights.get(key) ?? 0) + n);
  }

  stopped(icount: number): boolean {
    this.sample(icount);
    this.next = icount + this.work.interval;
    return false;
  }

  detach(state: string, icount: number): ProfileOutput {
    // The run ended here (not at the next checkpoint): the state it ended in stands for the rest.
    if (state !== 'segment-end' && (icount > this.last || this.first === undefined))
      this.sample(icount);
    return {
      kind: 'profile',
      first: this.first,
      weights: [...this.weights],
      tail: state === 'segment-end' ? icount - this.last : 0,
    };
  }
}

export function analysisObserver(work: AnalysisWork): SegmentObserver {
  return work.kind === 'trace' ? new TraceObserver(work) : new ProfileObserver(work);
}
