/**
 * `vmrs replay FILE`: re-execute a recording from its log alone — no
 * network, no passt, no console input, no host clock — printing the guest's
 * console output as it was, and exiting with the recorded guest's status.
 */
import { threadTimes, threadTimesSince } from '../host/thread-time.js';
import { UsageError, parseInstructionCount } from './options.js';
import { reportDeviceFailures } from './device-failures.js';
import { openReplayAsync } from './open-replay.js';
import { describeMachineState } from './state-report.js';
import { ReplayDebugSession } from './debug-session.js';
import { parseMemorySize } from './options.js';
import { renameSync, writeFileSync } from 'node:fs';
import { bytesDigest } from '../host/file-digest.js';
import { SNAPSHOT_VERSION, captureSnapshot, restoreSnapshot } from '../snapshot/snapshot-file.js';
import { SnapshotError } from '../snapshot/state.js';
import { openSnapshot } from './run.js';
import { VMRS_VERSION } from './version.js';
import { EventType, type RecordedEvent } from '../replay/events.js';
import { decodeDiskError } from '../replay/disk-gate.js';
import { HotProfile } from '../host/hot-profile.js';
import { chooseEngine, engineStats } from './engine-option.js';
import { RecordingFormatError, type ParsedRecording } from '../replay/log-format.js';
import type { CheckpointInfo } from '../replay/checkpoint-chunk.js';
import { loadPlugins } from './plugins.js';
import type { PluginHost } from '../plugin/plugin-host.js';

export interface ReplayOptions {
  verify: boolean;
  quiet?: boolean;
  /** Stop at this icount and print the machine's state. */
  to?: string;
  /** Serve GDB on this port (the replay waits at its first instruction). */
  gdb?: string;
  gdbHost: string;
  checkpointInterval: string;
  checkpointMemory: string;
  /** With --to: save the machine there. */
  saveSnapshot?: string;
  /** Start from a snapshot saved by --to N --save-snapshot (a position in this recording). */
  fromSnapshot?: string;
  /** Execution engine (see engine-option.ts). */
  engine?: string;
  /** Print the engine's figures at the end. */
  stats?: boolean;
  /** Replay from the recording's start, not from its checkpoints (--from-start). */
  fromStart?: boolean;
  /** Plugin modules, each FILE[,ARG…] (see src/plugin/plugin-api.ts). */
  plugin?: string[];
}

/** The recording's checkpoint to start a replay to `to` from, if one lies ahead of the machine. */
function startCheckpoint(
  rec: ParsedRecording,
  now: number,
  to: number,
): CheckpointInfo | undefined {
  let best: CheckpointInfo | undefined;
  for (const c of rec.checkpoints) if (c.icount <= to && c.icount > now) best = c;
  return best;
}

/** Exit statuses of `vmrs replay` itself when it can't finish as recorded. */
export const REPLAY_DIVERGED = 2;
export const REPLAY_TRUNCATED = 3;

export async function replayCommand(file: string, opts: ReplayOptions): Promise<number> {
  // stdout gone (`vmrs replay | head`): stop there, as SIGPIPE would (128 + 13). A replay
  // has nothing to save on the way out; a snapshot it writes is written aside and renamed.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    process.stderr.write(`vmrs: console output failed (${e.code ?? e.message}); replay stopped\n`);
    process.exit(141);
  });
  const debug: { session?: ReplayDebugSession } = {};
  try {
    return await replay(file, opts, debug);
  } finally {
    await debug.session?.close(); // the GDB port, whatever ended the replay
  }
}

async function replay(
  file: string,
  opts: ReplayOptions,
  debug: { session?: ReplayDebugSession },
): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[vmrs] ${s}\n`);
  };
  const out: number[] = [];
  // Under GDB the machine goes back and forth: print console output only the first time
  // through. A byte's place is its icount and its rank among the bytes of that icount
  // (a virtio console hands out several at once).
  let printedUpTo = -1;
  let printedAtLast = 0;
  let curIcount = -1;
  let curRank = 0;
  const { rec, vm, replayer, gate } = await openReplayAsync(file, {
    verify: opts.verify,
    log,
    stdout: (b) => {
      const i = vm.cpu.icount;
      if (i !== curIcount) {
        curIcount = i;
        curRank = 0;
      }
      curRank++;
      if (i > printedUpTo || (i === printedUpTo && curRank > printedAtLast)) {
        printedUpTo = i;
        printedAtLast = curRank;
        out.push(b);
      }
    },
  });
  chooseEngine(vm.cpu, opts.engine);
  let plugins: PluginHost | undefined;
  if (opts.plugin?.length) {
    if (opts.gdb !== undefined) throw new UsageError('--plugin and --gdb do not go together (yet)');
    plugins = await loadPlugins(opts.plugin, vm, (line) => process.stderr.write(`${line}\n`));
    if (plugins.needsInterpreter && vm.cpu.engine !== 'interp') {
      vm.cpu.engine = 'interp';
      log('a plugin watches sstatus/mstatus writes: replaying on the interpreter');
    }
    // Plugins see the whole run: no start from a checkpoint part of the way in.
    opts.fromStart = true;
    plugins.install();
    if (plugins.wantsInputs) {
      const host = plugins;
      replayer.onInput = (ev) => host.input(ev);
      gate.onInput = (ev) => host.input(ev);
    }
  }
  if (opts.fromStart) replayer.useFileCheckpoints(undefined);
  reportDeviceFailures(vm);
  const recordingId = bytesDigest(new TextEncoder().encode(JSON.stringify(rec.header)));
  if (opts.saveSnapshot && opts.to === undefined)
    throw new UsageError('--save-snapshot needs --to ICOUNT (where to take it)');
  if (opts.fromSnapshot) {
    const { snap } = openSnapshot(opts.fromSnapshot);
    if (snap.header.replayOf?.recording !== recordingId)
      throw new UsageError(
        `${opts.fromSnapshot} was not taken in a replay of ${file} (use vmrs run --load-snapshot for other snapshots)`,
      );
    try {
      restoreSnapshot(vm, snap);
    } catch (e) {
      if (e instanceof SnapshotError) throw new UsageError(`${opts.fromSnapshot}: ${e.message}`);
      throw e;
    }
    replayer.resumeAt(snap.header.icount);
    printedUpTo = vm.cpu.icount;
    log(`replaying from icount ${vm.cpu.icount} (snapshot ${opts.fromSnapshot})`);
  }
  if (opts.gdb !== undefined) {
    if (opts.to !== undefined)
      throw new UsageError('--to and --gdb do not go together (under GDB: monitor seek ICOUNT)');
    const interval = parseInstructionCount('--checkpoint-interval', opts.checkpointInterval, 1000);
    replayer.enableCheckpoints({
      interval,
      memoryBudget: parseMemorySize(opts.checkpointMemory),
    });
    // Console output made while GDB drives the replay.
    const flushOut = () => {
      if (out.length) {
        process.stdout.write(Buffer.from(out));
        out.length = 0;
      }
    };
    const timer = setInterval(flushOut, 50);
    try {
      debug.session = await ReplayDebugSession.open(
        vm,
        replayer,
        opts.gdb,
        opts.gdbHost,
        log,
        () => {
          clearInterval(timer);
          flushOut();
        },
      );
    } catch (e) {
      clearInterval(timer);
      throw e;
    }
  }
  const flush = async () => {
    if (!out.length) return;
    const chunk = Buffer.from(out);
    out.length = 0;
    if (!process.stdout.write(chunk))
      await new Promise<void>((r) => process.stdout.once('drain', () => r()));
  };
  if (opts.to !== undefined) {
    const to = parseInstructionCount('--to', opts.to);
    const cp =
      opts.fromSnapshot || opts.fromStart ? undefined : startCheckpoint(rec, vm.cpu.icount, to);
    if (cp) {
      // The recording's own checkpoint closest before: the replay starts there, not at the beginning.
      try {
        replayer.startAtCheckpoint(cp.seq);
        printedUpTo = vm.cpu.icount;
        log(`starting from the recording's checkpoint ${cp.seq} at icount ${cp.icount}`);
      } catch (e) {
        // Read and checked whole before the machine is touched: it is still at the start.
        if (!(e instanceof RecordingFormatError)) throw e;
        process.stderr.write(`vmrs: warning: ${e.message}; replaying from the start instead\n`);
      }
    }
    replayer.pauseAt(to);
  }
  // Seeds from the last run of these images (after any restore, which empties the code cache).
  const hotProfile =
    vm.cpu.engine === 'translate' && !debug.session ? HotProfile.open(vm) : undefined;
  const t0 = performance.now();
  const startThread = threadTimes();
  for (;;) {
    // Under GDB: wait while a debugger holds the replay; once one detaches, it runs on to its end.
    const ended = await debug.session?.whileHeld();
    if (ended) return ended === 'signal' ? 130 : 0;
    const st = replayer.step(debug.session ? 5_000_000 : 20_000_000);
    await flush();
    if (plugins?.failure) {
      process.stderr.write(
        `vmrs: ${plugins.failure}\nvmrs: replay stopped at icount ${vm.cpu.icount}\n`,
      );
      await plugins.end({ icount: vm.cpu.icount, state: 'plugin-failed' });
      return 1;
    }
    if (st.state !== 'running') {
      await plugins?.end({ icount: vm.cpu.icount, state: st.state });
      if (plugins?.failure) {
        process.stderr.write(`vmrs: ${plugins.failure}\n`);
        return 1;
      }
    }
    if (st.state === 'running') {
      await new Promise<void>((r) => setImmediate(r));
      continue;
    }
    const secs = (performance.now() - t0) / 1000;
    hotProfile?.save();
    const insns = vm.cpu.icount;
    if (opts.stats)
      process.stderr.write(
        engineStats(vm.cpu, secs * 1000, threadTimesSince(startThread)) +
          `vmrs: memory: peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`,
      );
    switch (st.state) {
      case 'paused':
        log(`stopped at icount ${st.icount} as asked (${secs.toFixed(2)} s)`);
        process.stderr.write(describeMachineState(vm));
        if (opts.saveSnapshot) {
          const h = rec.header;
          const bytes = captureSnapshot(vm, {
            formatVersion: SNAPSHOT_VERSION,
            vmrsVersion: VMRS_VERSION,
            createdUnixMs: Date.now(),
            machine: h.machine,
            bios: h.bios,
            kernel: h.kernel,
            initrd: h.initrd,
            devices: h.devices,
            replayOf: { recording: recordingId, icount: vm.cpu.icount },
          });
          const tmp = `${opts.saveSnapshot}.tmp-${process.pid}`;
          writeFileSync(tmp, bytes);
          renameSync(tmp, opts.saveSnapshot);
          log(`saved snapshot at icount ${vm.cpu.icount} to ${opts.saveSnapshot}`);
        }
        return 0;
      case 'done': {
        // A recording stopped by a host disk error it could not reproduce says so (looked for
        // only in recordings that were stopped, so a long one is not read again for nothing).
        let stop: RecordedEvent | undefined;
        if (st.exitKind === 'stopped')
          for (const c = rec.events.cursor(); c.peek() && !stop; c.advance()) {
            const e = c.peek()!;
            if (e.type === EventType.DiskError && decodeDiskError(e).partial) stop = e;
          }
        if (stop)
          process.stderr.write(
            `vmrs: the recording stopped at icount ${st.icount} after a host disk error it could not reproduce: ${decodeDiskError(stop).message}\n`,
          );
        log(
          `replay complete: ${insns} instructions in ${secs.toFixed(2)} s, ` +
            (opts.verify
              ? `${replayer.digestsChecked} state digests verified` +
                (replayer.digestNote ? ` (${replayer.digestNote})` : '')
              : 'digests not verified'),
        );
        return st.status;
      }
      case 'truncated':
        process.stderr.write(
          `vmrs: replay: the recording ends at icount ${st.icount} without an end marker` +
            ((rec.events.damage ?? rec.damage)
              ? ` (${rec.events.damage ?? rec.damage})`
              : ' (the recorder was stopped before it could finish)') +
            '; replayed up to there\n',
        );
        return REPLAY_TRUNCATED;
      case 'diverged': {
        const d = st.divergence;
        if (d.host) {
          process.stderr.write(`vmrs: replay stopped at icount ${d.icount}: ${d.reason}\n`);
          return 1;
        }
        process.stderr.write(
          `vmrs: replay diverged at icount ${d.icount}, pc ${d.pc}: ${d.reason}\n`,
        );
        for (const line of d.details) process.stderr.write(`  ${line}\n`);
        return REPLAY_DIVERGED;
      }
    }
  }
}
