/**
 * What the fuzzers run on each mutated input, as vmrs itself would:
 *
 * - recording: read it, stream every event (as `vmrs inspect`), then build
 *   the machine and replay it (as `vmrs replay`) for a bounded number of
 *   instructions;
 * - snapshot: read it, restore it into the machine of the recording it was
 *   taken in, replay on from its icount, then run the machine on freely;
 * - elf: parse it and load it as a bare-metal kernel into a board's RAM;
 * - gdb: send the bytes to a GDB stub serving a replay, in pieces, then
 *   ask for the stop reason and wait for the answer.
 *
 * An input is 'accepted' or 'rejected' (refused with one of the documented
 * errors: RecordingFormatError, SnapshotError, ElfFormatError,
 * ImageFileError, UsageError, DriveError, or the boot loader's plain
 * Error saying why an image does not fit). Anything else thrown is a
 * crash, and so is a GDB stub that reports an internal error; work past
 * the bounds below is a hang.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { RecordingFormatError, readRecording } from '../../src/replay/log-format.js';
import { SnapshotError } from '../../src/snapshot/state.js';
import { readSnapshot, restoreSnapshot } from '../../src/snapshot/snapshot-file.js';
import { ElfFormatError, parseElf } from '../../src/machine/elf.js';
import { ImageFileError } from '../../src/host/image-file.js';
import { DriveError } from '../../src/host/drive-options.js';
import { UsageError } from '../../src/cli/options.js';
import { openReplayOf, type OpenedReplay } from '../../src/cli/open-replay.js';
import { Bus } from '../../src/machine/bus.js';
import { setupBoot } from '../../src/machine/boot.js';
import { GdbStub } from '../../src/gdb/gdb-server.js';
import { ReplayTarget } from '../../src/gdb/replay-target.js';
import type { Seeds } from './seeds.js';

export type Outcome = 'accepted' | 'rejected';

/** An input that made vmrs work past a bound: a hang. */
export class FuzzHang extends Error {}

/** Instructions a mutated recording or snapshot is replayed or run for. */
export const RUN_BUDGET = 100_000;
/** Machines larger than this are read but not built (a header may name 16 GiB of RAM). */
const MAX_FUZZ_RAM = 256 << 20;
/** Event-loop turns a GDB case may take before its stop reply (a replay of the seed takes a few). */
const GDB_TURNS = 20_000;

export function documented(e: unknown): boolean {
  return (
    e instanceof RecordingFormatError ||
    e instanceof SnapshotError ||
    e instanceof ElfFormatError ||
    e instanceof ImageFileError ||
    e instanceof UsageError ||
    e instanceof DriveError ||
    (e instanceof Error && e.constructor === Error)
  );
}

const quiet = { verify: true, log: () => {}, stdout: () => {} };

/** Run a machine on its own (idle time skipped) for up to `budget` instructions. */
function runFree(o: OpenedReplay, budget: number): void {
  const vm = o.vm;
  let left = budget;
  for (let turns = 0; left > 0 && turns < 10_000; turns++) {
    const r = vm.runSlice(Math.min(left, 50_000));
    left -= r.executed;
    if (r.result === 'exit' || r.result === 'stuck') return;
    if (r.result === 'idle') {
      const d = vm.nextDeadline();
      if (d === Infinity) return;
      vm.advanceTimeTo(d);
    }
  }
}

/** Replay for up to `budget` instructions; a replay that neither advances nor stops is a hang. */
function replayFor(o: OpenedReplay, budget: number): void {
  const start = o.vm.cpu.icount;
  for (let steps = 0; ; steps++) {
    const st = o.replayer.step(50_000);
    if (st.state !== 'running') return;
    if (o.vm.cpu.icount - start >= budget) return;
    if (steps > 100_000) throw new FuzzHang('the replay applies events without end');
  }
}

export function fuzzRecording(bytes: Uint8Array): Outcome {
  let rec;
  try {
    rec = readRecording(bytes);
  } catch (e) {
    if (e instanceof RecordingFormatError) return 'rejected';
    throw e;
  }
  let n = 0;
  for (const c = rec.events.cursor(); c.peek(); c.advance()) n++;
  if (n !== rec.events.count) throw new Error(`streamed ${n} events of ${rec.events.count}`);
  if (rec.header.machine.memoryBytes > MAX_FUZZ_RAM) return 'accepted';
  let o: OpenedReplay;
  try {
    o = openReplayOf(rec, quiet);
  } catch (e) {
    if (documented(e)) return 'rejected';
    throw e;
  }
  try {
    replayFor(o, RUN_BUDGET);
  } finally {
    o.close();
  }
  return 'accepted';
}

export class SnapshotTarget {
  private replay: OpenedReplay;

  constructor(private readonly seeds: Seeds) {
    this.replay = openReplayOf(readRecording(seeds.recording), quiet);
  }

  run(bytes: Uint8Array): Outcome {
    let snap;
    try {
      snap = readSnapshot(bytes);
    } catch (e) {
      if (documented(e)) return 'rejected';
      throw e;
    }
    try {
      restoreSnapshot(this.replay.vm, snap);
    } catch (e) {
      if (!documented(e)) throw e;
      // A refused restore may leave the machine half-restored (vmrs then stops): the next
      // case gets a machine built afresh, as a new vmrs would.
      this.replay.close();
      this.replay = openReplayOf(readRecording(this.seeds.recording), quiet);
      return 'rejected';
    }
    this.replay.replayer.resumeAt(snap.header.icount);
    replayFor(this.replay, RUN_BUDGET / 2);
    runFree(this.replay, RUN_BUDGET / 2);
    return 'accepted';
  }
}

export class ElfTarget {
  private readonly bus = new Bus(0x80000000, 64 << 20);

  run(bytes: Uint8Array): Outcome {
    try {
      parseElf(bytes, 'fuzz.elf');
      setupBoot(this.bus, {
        bios: 'none',
        biosName: 'none',
        kernel: bytes,
        kernelName: 'fuzz.elf',
        append: 'console=ttyS0',
        harts: 1,
      });
    } catch (e) {
      if (documented(e)) return 'rejected';
      throw e;
    }
    return 'accepted';
  }
}

/** Enough of a net.Socket for the stub: what it writes is kept, ending it closes it. */
class FakeSocket extends EventEmitter {
  out = '';
  closed = false;
  setNoDelay(): this {
    return this;
  }
  write(s: string): boolean {
    if (!this.closed) this.out += s;
    return true;
  }
  end(): this {
    return this.destroy();
  }
  destroy(): this {
    if (!this.closed) {
      this.closed = true;
      setImmediate(() => this.emit('close'));
    }
    return this;
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

export class GdbTarget {
  private readonly replay: OpenedReplay;
  private readonly target: ReplayTarget;
  /** Internal errors the stub reported (crashes). */
  internal: string[] = [];

  constructor(seeds: Seeds) {
    this.replay = openReplayOf(readRecording(seeds.recording), quiet);
    this.replay.replayer.enableCheckpoints({ interval: 500, memoryBudget: 64 << 20 });
    this.target = new ReplayTarget(this.replay.vm, this.replay.replayer);
  }

  /** Send `stream` in pieces cut at `cuts` (fractions), then ask '?' and wait for a stop reply. */
  async run(stream: string, cuts: number[] = []): Promise<Outcome> {
    const sock = new FakeSocket();
    const stub = new GdbStub(this.target, (s) => {
      if (s.includes('internal error')) this.internal.push(s);
    });
    stub.attach(sock as unknown as Socket, () => {});
    let at = 0;
    for (const c of [...cuts.map((f) => Math.floor(f * stream.length)), stream.length].sort(
      (a, b) => a - b,
    )) {
      if (c <= at) continue;
      sock.emit('data', Buffer.from(stream.slice(at, c), 'latin1'));
      at = c;
      await turn();
    }
    const errors = this.internal.splice(0);
    if (errors.length) throw new Error(errors[0]);
    if (sock.closed) return 'accepted';
    for (let turns = 0; stub.busy; turns++) {
      if (turns > GDB_TURNS) throw new FuzzHang('the stub is still running the target');
      await turn();
    }
    const before = sock.out.length;
    sock.emit('data', Buffer.from('$?#3f', 'latin1'));
    for (let turns = 0; ; turns++) {
      if (sock.closed || /\$[TSW][0-9a-f]{2}/.test(sock.out.slice(before))) break;
      if (turns > GDB_TURNS) throw new FuzzHang('no stop reply to ?');
      await turn();
    }
    const late = this.internal.splice(0);
    if (late.length) throw new Error(late[0]);
    sock.destroy();
    return 'accepted';
  }
}
