/**
 * `vmrs trace FILE --syscalls`: the recording's Linux system calls, one a
 * line, as the replay reaches them (analysis/syscall-trace.ts).
 *
 * Tasks are named from the kernel's task_struct: where it keeps pid and
 * comm comes from vmlinux's DWARF when there is one (beside the recorded
 * kernel, or --vmlinux), else from a first replay that stops as soon as
 * the tasks have shown it (task-layout.ts; a boot's init scripts do that
 * early).
 *
 * One replay of the whole writes lines as it goes. With checkpoints in the
 * recording, `--jobs N` (or `--queue`) traces the segments between them
 * apart (analysis-segment.ts), and the lines come out as one replay's:
 * a call still waiting for its result at a segment's end is traced to its
 * result by a second replay of the segment where the result comes, seeded
 * with it. The replays verify their digests as `vmrs replay` does; a
 * divergence or a damaged file ends the trace with an error after the
 * lines before it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { openReplayAsync, readRecordingFile } from './open-replay.js';
import { UsageError } from './options.js';
import { analysisProgress, segmentsProgress } from './analysis-progress.js';
import { PluginHost } from '../plugin/plugin-host.js';
import { MachineGuestView } from '../plugin/guest-view.js';
import { TaskLayout, type TaskOffsets } from '../analysis/task-layout.js';
import {
  SyscallTracer,
  fromWire,
  type PendingWire,
  type TracedCall,
} from '../analysis/syscall-trace.js';
import { SYSCALL_NUMBERS } from '../analysis/linux-syscalls.js';
import { PerfettoTrace } from '../analysis/perfetto.js';
import { EventType } from '../replay/events.js';
import { TIMEBASE_HZ } from '../machine/clock.js';
import { REPLAY_DIVERGED, REPLAY_TRUNCATED } from './replay.js';
import {
  SegmentMachine,
  segmentsOf,
  verifySegment,
  type Segment,
  type SegmentResult,
} from './verify-segment.js';
import { TraceObserver, type TraceOutput, type TraceWork } from './analysis-segment.js';
import {
  kernelDwarf,
  openPool,
  parallelism,
  taskOffsetsFromDwarf,
  vmlinuxOf,
  type ParallelOptions,
} from './analysis-runner.js';
import type { GuestView } from '../plugin/plugin-api.js';
import type { DwarfStructs } from '../analysis/dwarf.js';
import { FdPaths, fileLayoutOf, type FileLayout } from '../analysis/fd-paths.js';

export interface TraceOptions extends ParallelOptions {
  syscalls?: boolean;
  /** Write a Chrome trace-event JSON file here (Perfetto UI opens it). */
  perfetto?: string;
  pid?: string;
  comm?: string;
  syscall?: string;
  output?: string;
  /** The kernel's ELF (DWARF gives task_struct's layout); default: beside the recorded kernel. */
  vmlinux?: string;
  /** Show what file descriptors name (strace's -y). */
  decodeFds?: boolean;
  quiet?: boolean;
}

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

function parseFilter(opts: TraceOptions): TraceWork['filter'] {
  const f: TraceWork['filter'] = {};
  const pids = list(opts.pid);
  if (pids) {
    if (pids.some((p) => !/^\d+$/.test(p)))
      throw new UsageError('--pid takes process ids (numbers), comma-separated');
    f.pids = pids.map(Number);
  }
  f.comms = list(opts.comm);
  const names = list(opts.syscall);
  if (names) {
    const bad = names.filter((n) => !SYSCALL_NUMBERS.has(n) && !/^\d+$/.test(n));
    if (bad.length) throw new UsageError(`--syscall: no system call named ${bad.join(', ')}`);
    f.syscalls = names.map((n) => SYSCALL_NUMBERS.get(n) ?? Number(n));
  }
  return f;
}

/**
 * Where this recording's kernel keeps a task's pid and name (task-layout.ts),
 * from a replay of it that stops as soon as that is known.
 */
export async function learnTaskLayout(
  file: string,
  progress: (icount: number) => void = () => {},
): Promise<TaskLayout> {
  const { vm, replayer, close } = await openReplayAsync(file, {
    verify: true,
    log: () => {},
    stdout: () => {},
  });
  try {
    const guest = new MachineGuestView(vm);
    const layout = new TaskLayout(guest);
    const tracer = new SyscallTracer(guest, layout, () => {});
    const host = new PluginHost(vm, () => {});
    await host.add(
      'task-layout',
      (vmrs) => {
        vmrs.onTrap((t) => tracer.onTrap(t));
        vmrs.onXret((x) => tracer.onXret(x));
      },
      [],
    );
    host.install();
    for (;;) {
      const st = replayer.step(20_000_000);
      if (host.failure) throw new Error(host.failure);
      progress(vm.cpu.icount);
      if (st.state !== 'running' || layout.settled) return layout;
      await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    close();
  }
}

/** Task layout for a recording: from DWARF if it can, else learned (with a progress line). */
export async function taskOffsets(
  file: string,
  vmlinux: string | undefined,
  dwarf: DwarfStructs | undefined,
  total: number,
  show: boolean,
  log: (s: string) => void,
): Promise<TaskOffsets> {
  const o = dwarf && taskOffsetsFromDwarf(dwarf);
  if (o) {
    log(`task_struct layout from the DWARF of ${vmlinux}`);
    return o;
  }
  const learning = analysisProgress('learning task layout', total, show);
  const layout = await learnTaskLayout(file, (i) => learning.update(i));
  learning.stop();
  if (!layout.settled)
    log(
      'the recording did not show where tasks keep their pid and name (too few programs started): they are shown as ?',
    );
  return layout.offsets();
}

/** A guest for lines that need none (calls that never returned show their arguments as at entry). */
const NO_GUEST = new Proxy({} as GuestView, {
  get: () => {
    throw new Error('no guest here');
  },
});

/** How the trace ended: the replay's state, and what to tell the user. */
function endOf(r: SegmentResult, seg: Segment): { status: number; detail: string } {
  if (r.verdict === 'diverged')
    return {
      status: REPLAY_DIVERGED,
      detail: `the replay diverged at icount ${r.icount}: ${r.message}`,
    };
  if (r.verdict === 'damaged')
    return { status: REPLAY_TRUNCATED, detail: `at icount ${r.icount}: ${r.message}` };
  if (seg.toEvent === null && !r.exit)
    return {
      status: REPLAY_TRUNCATED,
      detail: `the recording ends at icount ${r.icount} without an end marker`,
    };
  return { status: 0, detail: '' };
}

export async function traceCommand(file: string, opts: TraceOptions): Promise<number> {
  if (!opts.syscalls && !opts.perfetto)
    throw new UsageError('say what to trace: --syscalls, --perfetto OUT.json, or both');
  const filter = parseFilter(opts);
  const rec = readRecordingFile(file);
  const total = rec.events.lastIcount ?? 0;
  const segments = segmentsOf(rec);
  const vmlinux = vmlinuxOf(rec, opts.vmlinux);
  rec.source.close?.();
  let jobs = parallelism(opts, segments);
  const show = !!process.stderr.isTTY && !opts.quiet;
  const log = (s: string) => !opts.quiet && process.stderr.write(`[vmrs] ${s}\n`);
  if (jobs > 1 && opts.perfetto) {
    if (opts.queue)
      throw new UsageError('--perfetto is written by one replay here: not with --queue');
    log('--perfetto is written by one replay of the whole: --jobs 1');
    jobs = 1;
  }
  const dwarf = kernelDwarf(vmlinux, log);
  let files: FileLayout | undefined;
  if (opts.decodeFds) {
    files = dwarf && fileLayoutOf(dwarf);
    if (!files)
      throw new UsageError(
        `-y names files from the kernel's structures: it needs a vmlinux with DWARF (${vmlinux ? `${vmlinux} has none usable` : 'none beside the recorded kernel; give --vmlinux'})`,
      );
  }
  const layout = await taskOffsets(file, vmlinux, dwarf, total, show, log);

  const out: WriteStream | NodeJS.WriteStream = opts.output
    ? createWriteStream(opts.output)
    : process.stdout;
  let failed: Error | undefined;
  out.on('error', (e: Error) => (failed ??= e));
  let lines = 0;
  const write = (line: string) => {
    lines++;
    if (!failed && opts.syscalls) out.write(`${line}\n`);
  };
  let perfetto: PerfettoTrace | undefined;
  let json: WriteStream | undefined;
  if (opts.perfetto) {
    json = createWriteStream(opts.perfetto);
    json.on('error', (e: Error) => (failed ??= e));
    const stream = json;
    perfetto = new PerfettoTrace((text) => {
      if (!failed) stream.write(text);
    });
  }
  const work: TraceWork = { kind: 'trace', layout, filter, files };
  const end =
    jobs === 1
      ? await traceWhole(file, work, write, perfetto, total, show)
      : await traceSegments(file, opts, jobs, segments, work, write, total, show, log);
  perfetto?.end();
  if (json) await new Promise<void>((r) => json.end(r));
  if (out !== process.stdout) await new Promise<void>((r) => (out as WriteStream).end(r));
  if (failed) throw new UsageError(`cannot write the trace: ${failed.message}`);
  log(`${lines} system calls traced`);
  if (end.detail) process.stderr.write(`vmrs: ${end.detail}; the trace stops there\n`);
  return end.status;
}

/** A tracer for lines that need no guest: results handed on, calls that never returned. */
function guestlessTracer(
  work: TraceWork,
  write: (line: string, key: number) => void,
): SyscallTracer {
  return new SyscallTracer(
    NO_GUEST,
    TaskLayout.known(NO_GUEST, work.layout),
    write,
    {
      pids: work.filter.pids && new Set(work.filter.pids),
      comms: work.filter.comms && new Set(work.filter.comms),
      syscalls: work.filter.syscalls && new Set(work.filter.syscalls),
    },
    () => 0,
    // Only asked whether -y is on: descriptors are named in the replays.
    work.files && new FdPaths(NO_GUEST, work.files),
  );
}

/** Lines of the calls still waiting at the end, after all others (with no result). */
function finishLines(
  calls: PendingWire[],
  work: TraceWork,
  write: (line: string) => void,
  onCall?: (c: TracedCall) => void,
): void {
  const t = guestlessTracer(work, write);
  t.onCall = onCall;
  t.finishCalls(calls.map(fromWire));
}

/** One replay of the whole recording here, lines written as they come. */
async function traceWhole(
  file: string,
  work: TraceWork,
  write: (line: string) => void,
  perfetto: PerfettoTrace | undefined,
  total: number,
  show: boolean,
): Promise<{ status: number; detail: string }> {
  let nowUs = () => 0;
  const machine = new SegmentMachine(
    perfetto && {
      stdout: (b) => perfetto.console(b, nowUs()),
      netSent: (nic, frame) => perfetto.sent(nic, frame, nowUs()),
      diskRequest: (disk, r) => perfetto.diskRequest(disk, r, nowUs()),
    },
  );
  const kinds: Partial<Record<EventType, string>> = {
    [EventType.Console]: 'console',
    [EventType.Hvc]: 'hvc',
    [EventType.NetFrame]: 'net-frame',
    [EventType.NetLink]: 'net-link',
  };
  const observer = new TraceObserver(work, {
    onLine: (line) => write(line),
    clock: (f) => (nowUs = f),
    ...(perfetto && {
      onCall: (c: TracedCall) => perfetto.call(c),
      onTrap: (t, us) => {
        perfetto.trap(t, us);
        perfetto.tick(t.icount, us);
      },
      onXret: (x, us) => perfetto.xret(x, us),
      onInput: (ev) => {
        // Called before the event applies: now is when the guest went idle, ev.value when it wakes.
        if (ev.type === EventType.IdleJump) perfetto.idle(nowUs(), ev.value / (TIMEBASE_HZ / 1e6));
        const kind = kinds[ev.type];
        if (kind) perfetto.input(kind, ev.arg, ev.data, ev.value, nowUs());
      },
    }),
  });
  const segment: Segment = { index: 0, fromSeq: -1, fromIcount: 0, toEvent: null, toIcount: null };
  const tracing = analysisProgress('trace', total, show);
  try {
    const r = await verifySegment({ file, segment }, (i) => tracing.update(i), machine, observer);
    tracing.stop();
    const o = r.analysis as TraceOutput;
    finishLines(o.pending, work, write, perfetto && ((c) => perfetto.call(c)));
    return endOf(r, segment);
  } finally {
    tracing.stop();
    machine.close();
  }
}

/**
 * The segments traced apart and merged: each segment's lines are those of
 * the calls it entered and saw return, and those of calls entered before
 * it whose results it holds (a second, seeded replay of it); in key order
 * they are one replay's lines. Written segment by segment, in order.
 */
async function traceSegments(
  file: string,
  opts: ParallelOptions,
  jobs: number,
  segments: Segment[],
  work: TraceWork,
  write: (line: string) => void,
  total: number,
  show: boolean,
  log: (s: string) => void,
): Promise<{ status: number; detail: string }> {
  const bar = segmentsProgress('trace', total, segments.length, show);
  const finished = new Set<number>();
  const pool = await openPool(
    file,
    opts,
    jobs,
    (i, icount) => !finished.has(i) && bar.progress(i, icount - segments[i].fromIcount),
    log,
    segments.length,
  );
  log(
    `tracing ${segments.length} segments, ${opts.queue ? `on the workers of ${opts.queue}` : `${jobs} at a time`}`,
  );
  const job = (segment: Segment, w: TraceWork) => ({
    file: pool.file,
    size: pool.size,
    segment,
    analysis: w,
  });
  try {
    const first = segments.map((s) => pool.run(job(s, work)));
    first.forEach((p) => p.catch(() => {})); // awaited in order below
    /** Calls waiting for their results, by task, as of the segment being merged. */
    const carry = new Map<string, PendingWire>();
    // Each segment's lines are written once those before them are.
    let written = Promise.resolve();
    let end = { status: 0, detail: '' };
    let crossed = 0;
    let replayed = 0;
    // Lines of calls handed on whose results need no guest memory are written by this tracer.
    const lineSink: { to: [number, string][] } = { to: [] };
    const here = guestlessTracer(work, (line, key) => lineSink.to.push([key, line]));
    for (const seg of segments) {
      const r = await first[seg.index];
      finished.add(seg.index);
      bar.done(r);
      const o = r.analysis as TraceOutput;
      const firsts = new Map(o.firstEvents);
      const seeds: PendingWire[] = [];
      const known: [number, string][] = [];
      let until = 0;
      for (const [task, call] of carry) {
        const f = firsts.get(task);
        if (f === undefined) continue; // still waiting
        carry.delete(task);
        // A task's next return to user mode is its call's result; a call of its own first means
        // the task ended inside the old one (its task_struct is another's now): no result, as in one replay.
        if (f.kind === 'return') {
          crossed++;
          const r = BigInt(f.a0);
          if (here.needsGuestAtReturn(fromWire(call), r)) {
            seeds.push(call);
            until = Math.max(until, f.icount);
          } else {
            // Its line needs only the result: written here, no second replay.
            lineSink.to = known;
            here.returned(fromWire(call), r, f.icount);
          }
        }
      }
      replayed += seeds.length;
      const second = seeds.length
        ? pool.run(job(seg, { ...work, seeds, until }), true)
        : Promise.resolve(undefined);
      second.catch(() => {});
      written = written.then(async () => {
        const r2 = await second;
        const all = [
          ...o.lines,
          ...known,
          ...((r2?.analysis as TraceOutput | undefined)?.lines ?? []),
        ];
        for (const [, line] of all.sort((a, b) => a[0] - b[0])) write(line);
      });
      written.catch(() => {}); // awaited at the end
      for (const call of o.pending) carry.set(call.task, call);
      end = endOf(r, seg);
      if (r.verdict !== 'ok') break;
    }
    await written;
    log(
      `${crossed} call(s) waited across a checkpoint; ${replayed} needed a second replay of a segment to show memory at their results`,
    );
    finishLines([...carry.values()], work, write);
    return end;
  } finally {
    bar.stop();
    await pool.close();
  }
}
