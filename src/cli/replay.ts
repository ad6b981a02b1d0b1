/**
 * `vmrs replay FILE`: re-execute a recording from its log alone — no
 * network, no passt, no console input, no host clock — printing the guest's
 * console output as it was, and exiting with the recorded guest's status.
 */
import { UsageError } from './options.js';
import { openReplay } from './open-replay.js';
import { describeMachineState } from './state-report.js';
import { GdbStub } from '../gdb/gdb-server.js';
import { ReplayTarget } from '../gdb/replay-target.js';
import { parseMemorySize } from './options.js';
import { renameSync, writeFileSync } from 'node:fs';
import { bytesDigest } from '../host/file-digest.js';
import { SNAPSHOT_VERSION, captureSnapshot, restoreSnapshot } from '../snapshot/snapshot-file.js';
import { SnapshotError } from '../snapshot/state.js';
import { openSnapshot } from './run.js';
import { VMRS_VERSION } from './version.js';
import { EventType } from '../replay/events.js';
import { decodeDiskError } from '../replay/disk-gate.js';

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
}

/** Exit statuses of `vmrs replay` itself when it can't finish as recorded. */
export const REPLAY_DIVERGED = 2;
export const REPLAY_TRUNCATED = 3;

export async function replayCommand(file: string, opts: ReplayOptions): Promise<number> {
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[vmrs] ${s}\n`);
  };
  const out: number[] = [];
  // Under GDB the machine goes back and forth: print console output only the first time through.
  let printedUpTo = -1;
  const { rec, vm, replayer } = openReplay(file, {
    verify: opts.verify,
    log,
    stdout: (b) => {
      if (vm.cpu.icount >= printedUpTo) {
        printedUpTo = vm.cpu.icount;
        out.push(b);
      }
    },
  });
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
    const port = Number(opts.gdb);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError('--gdb needs a TCP port number');
    const interval = Number(opts.checkpointInterval);
    if (!Number.isSafeInteger(interval) || interval < 1000)
      throw new UsageError(
        '--checkpoint-interval must be a whole number of instructions (at least 1000)',
      );
    replayer.enableCheckpoints({
      interval,
      memoryBudget: parseMemorySize(opts.checkpointMemory),
    });
    const stub = new GdbStub(new ReplayTarget(vm, replayer), log);
    const flushOut = setInterval(() => {
      if (out.length) {
        process.stdout.write(Buffer.from(out));
        out.length = 0;
      }
    }, 50);
    try {
      await stub.serve(port, opts.gdbHost, (p) =>
        log(
          `waiting for GDB on ${opts.gdbHost}:${p} at icount ${vm.cpu.icount} (gdb-multiarch -ex 'target remote ${opts.gdbHost}:${p}')`,
        ),
      );
    } finally {
      clearInterval(flushOut);
      if (out.length) process.stdout.write(Buffer.from(out));
    }
    log('GDB detached');
    return 0;
  }
  const flush = async () => {
    if (!out.length) return;
    const chunk = Buffer.from(out);
    out.length = 0;
    if (!process.stdout.write(chunk))
      await new Promise<void>((r) => process.stdout.once('drain', () => r()));
  };
  if (opts.to !== undefined) {
    const to = Number(opts.to);
    if (!Number.isSafeInteger(to) || to < 0)
      throw new UsageError('--to must be an instruction count (a whole number)');
    replayer.pauseAt(to);
  }
  const t0 = performance.now();
  for (;;) {
    const st = replayer.step(20_000_000);
    await flush();
    if (st.state === 'running') {
      await new Promise<void>((r) => setImmediate(r));
      continue;
    }
    const secs = (performance.now() - t0) / 1000;
    const insns = vm.cpu.icount;
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
        const stop = rec.events.find(
          (e) => e.type === EventType.DiskError && decodeDiskError(e).partial,
        );
        if (stop)
          process.stderr.write(
            `vmrs: the recording stopped at icount ${st.icount} after a host disk error it could not reproduce: ${decodeDiskError(stop).message}\n`,
          );
        log(
          `replay complete: ${insns} instructions in ${secs.toFixed(2)} s, ` +
            (opts.verify
              ? `${replayer.digestsChecked} state digests verified`
              : 'digests not verified'),
        );
        return st.status;
      }
      case 'truncated':
        process.stderr.write(
          `vmrs: replay: the recording ends at icount ${st.icount} without an end marker` +
            (rec.damage
              ? ` (${rec.damage})`
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
