/**
 * `vmrs trace FILE --syscalls`: the recording's Linux system calls, one a
 * line, as the replay reaches them (analysis/syscall-trace.ts). Two passes
 * when needed: the first replays only until the tasks have shown where
 * their pid and name are kept (task-layout.ts) — a boot's init scripts do
 * that early — then the second writes every line with them. The replay
 * verifies its digests as `vmrs replay` does; a divergence or a damaged
 * file ends the trace with an error after the lines written so far.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { openReplayOf, readRecordingFile } from './open-replay.js';
import { UsageError } from './options.js';
import { analysisProgress } from './analysis-progress.js';
import { PluginHost } from '../plugin/plugin-host.js';
import { MachineGuestView } from '../plugin/guest-view.js';
import { TaskLayout } from '../analysis/task-layout.js';
import { SyscallTracer, type TraceFilter } from '../analysis/syscall-trace.js';
import { SYSCALL_NUMBERS } from '../analysis/linux-syscalls.js';
import { PerfettoTrace } from '../analysis/perfetto.js';
import { TIMEBASE_HZ } from '../machine/clock.js';
import { EventType } from '../replay/events.js';
import { REPLAY_DIVERGED, REPLAY_TRUNCATED } from './replay.js';

export interface TraceOptions {
  syscalls?: boolean;
  /** Write a Chrome trace-event JSON file here (Perfetto UI opens it). */
  perfetto?: string;
  pid?: string;
  comm?: string;
  syscall?: string;
  output?: string;
  quiet?: boolean;
}

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

function parseFilter(opts: TraceOptions): TraceFilter {
  const f: TraceFilter = {};
  const pids = list(opts.pid);
  if (pids) {
    if (pids.some((p) => !/^\d+$/.test(p)))
      throw new UsageError('--pid takes process ids (numbers), comma-separated');
    f.pids = new Set(pids.map(Number));
  }
  const comms = list(opts.comm);
  if (comms) f.comms = new Set(comms);
  const names = list(opts.syscall);
  if (names) {
    const bad = names.filter((n) => !SYSCALL_NUMBERS.has(n) && !/^\d+$/.test(n));
    if (bad.length) throw new UsageError(`--syscall: no system call named ${bad.join(', ')}`);
    f.syscalls = new Set(names.map((n) => SYSCALL_NUMBERS.get(n) ?? Number(n)));
  }
  return f;
}

/** One replay of `rec` with the tracer on; stops early when `until` says so. */
async function pass(
  file: string,
  layout: TaskLayout | undefined,
  write: (line: string) => void,
  filter: TraceFilter,
  until: (l: TaskLayout) => boolean,
  progress: (icount: number) => void,
  perfetto?: PerfettoTrace,
): Promise<{ layout: TaskLayout; state: string; detail: string; tracer: SyscallTracer }> {
  // The file is read afresh for each pass: a replay's reader moves through it as it goes.
  const opened = openReplayOf(readRecordingFile(file), {
    verify: true,
    log: () => {},
    stdout: (b) => perfetto?.console(b, nowUs()),
  });
  const { vm, replayer, close } = opened;
  const nowUs = () => vm.now() / (TIMEBASE_HZ / 1e6);
  if (perfetto) {
    const kinds: Partial<Record<EventType, string>> = {
      [EventType.Console]: 'console',
      [EventType.Hvc]: 'hvc',
      [EventType.NetFrame]: 'net-frame',
      [EventType.NetLink]: 'net-link',
    };
    replayer.onInput = (ev) => {
      const kind = kinds[ev.type];
      if (kind) perfetto.input(kind, ev.arg, ev.data, ev.value, nowUs());
    };
  }
  try {
    replayer.useFileCheckpoints(undefined);
    const guest = new MachineGuestView(vm);
    const l = layout ?? new TaskLayout(guest);
    if (layout) layout.rebind(guest);
    const tracer = new SyscallTracer(guest, l, write, filter, nowUs);
    if (perfetto) tracer.onCall = (c) => perfetto.call(c);
    const host = new PluginHost(vm, () => {});
    await host.add(
      'syscall-trace',
      (vmrs) => {
        vmrs.onTrap((t) => {
          tracer.onTrap(t);
          if (perfetto) {
            const us = nowUs();
            perfetto.trap(t, us);
            perfetto.tick(t.icount, us);
          }
        });
        vmrs.onXret((x) => {
          tracer.onXret(x);
          perfetto?.xret(x, nowUs());
        });
      },
      [],
    );
    host.install();
    for (;;) {
      const st = replayer.step(20_000_000);
      if (host.failure) throw new Error(host.failure);
      progress(vm.cpu.icount);
      if (st.state === 'running') {
        if (until(l)) return { layout: l, state: 'stopped', detail: '', tracer };
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      tracer.finish();
      const detail =
        st.state === 'diverged'
          ? `the replay diverged at icount ${st.divergence.icount}: ${st.divergence.reason}`
          : st.state === 'truncated'
            ? `the recording ends at icount ${st.icount} without an end marker`
            : '';
      return { layout: l, state: st.state, detail, tracer };
    }
  } finally {
    close();
  }
}

/**
 * Where this recording's kernel keeps a task's pid and name (task-layout.ts),
 * from a replay of it that stops as soon as that is known.
 */
export async function learnTaskLayout(
  file: string,
  progress: (icount: number) => void = () => {},
): Promise<TaskLayout> {
  return (
    await pass(
      file,
      undefined,
      () => {},
      {},
      (l) => l.settled,
      progress,
    )
  ).layout;
}

export async function traceCommand(file: string, opts: TraceOptions): Promise<number> {
  if (!opts.syscalls && !opts.perfetto)
    throw new UsageError('say what to trace: --syscalls, --perfetto OUT.json, or both');
  const filter = parseFilter(opts);
  const rec = readRecordingFile(file);
  const total = rec.events.lastIcount ?? 0;
  rec.source.close?.();
  const show = !!process.stderr.isTTY && !opts.quiet;

  // Pass 1: learn where tasks keep their pid and name (no output).
  const learning = analysisProgress('learning task layout', total, show);
  const layout = await learnTaskLayout(file, (i) => learning.update(i));
  learning.stop();
  if (!layout.settled && !opts.quiet)
    process.stderr.write(
      '[vmrs] the recording did not show where tasks keep their pid and name (too few programs started): they are shown as ?\n',
    );

  const out: WriteStream | NodeJS.WriteStream = opts.output
    ? createWriteStream(opts.output)
    : process.stdout;
  let failed: Error | undefined;
  out.on('error', (e: Error) => (failed ??= e));
  const write = (line: string) => {
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
  const tracing = analysisProgress('trace', total, show);
  const second = await pass(
    file,
    layout,
    write,
    filter,
    () => false,
    (i) => tracing.update(i),
    perfetto,
  );
  tracing.stop();
  perfetto?.end();
  if (json) await new Promise<void>((r) => json.end(r));
  if (out !== process.stdout) await new Promise<void>((r) => (out as WriteStream).end(r));
  if (failed) throw new UsageError(`cannot write the trace: ${failed.message}`);
  if (!opts.quiet) process.stderr.write(`[vmrs] ${second.tracer.lines} system calls traced\n`);
  if (second.detail) process.stderr.write(`vmrs: ${second.detail}; the trace stops there\n`);
  return second.state === 'diverged'
    ? REPLAY_DIVERGED
    : second.state === 'truncated'
      ? REPLAY_TRUNCATED
      : 0;
}
