/**
 * `vmrs trace --syscalls`: every Linux system call of a run, strace-style,
 *
 *   icount pid comm name(args) = result
 *
 * from the hart's traps and returns (plugin hooks): a call is an ecall from
 * user mode (number in a7, arguments in a0-a5), its result is a0 when that
 * task next returns to user mode with sret. The task is sscratch (its
 * task_struct, see task-layout.ts), so calls and results match across
 * context switches. A line is written when its call returns (at its entry's
 * icount), or at once for calls that do not return (exit, exit_group, a
 * successful execve's old program is gone but it does return, to the new).
 *
 * A replay may cover one segment of a recording (cli/analysis-segment.ts):
 * a call still waiting at the segment's end is handed on (`pendingCalls`),
 * and `firstEvents` says whether each task's first act in the segment was
 * a return (the result of a call handed on from before) or a call of its
 * own. A replay of that segment seeded with the calls handed on
 * (`seed`, with `seedOnly`) writes their lines at their results. Each line
 * carries its key, the icount it is written at, so segments' lines merge
 * into the order of one replay.
 */
import type { GuestView, TrapEvent, XretEvent } from '../plugin/plugin-api.js';
import { CSR } from '../cpu/csr-numbers.js';
import {
  ADDRESS_RESULT,
  ERRNO,
  SYSCALLS,
  openFlags,
  signalName,
  sockaddr,
  type ArgKind,
} from './linux-syscalls.js';
import type { TaskLayout } from './task-layout.js';
import type { FdPaths } from './fd-paths.js';

export interface TraceFilter {
  pids?: Set<number>;
  comms?: Set<string>;
  syscalls?: Set<number>;
}

/** A call as the tracer saw it, for sinks other than text (perfetto.ts). */
export interface TracedCall {
  icount: number;
  /** Guest time at the call and at its return (µs); the same when it did not return. */
  us: number;
  endUs: number;
  pid: number | undefined;
  comm: string | undefined;
  name: string;
  args: string;
  result: string;
}

/** A call entered and not yet returned. */
export interface PendingCall {
  /** Its task (task_struct address). */
  task: bigint;
  icount: number;
  us: number;
  nr: number;
  args: bigint[];
  /** Arguments shown as read at entry (paths, buffers the call reads). */
  shown: (string | undefined)[];
  pid: number | undefined;
  comm: string | undefined;
}

/** A task's first act in a replay: a return to user mode (at `icount`, with a0 then), or a call. */
export type FirstEvent = { kind: 'return'; icount: number; a0: string } | { kind: 'call' };

/** A PendingCall as JSON carries it (between threads, through a job queue). */
export interface PendingWire extends Omit<PendingCall, 'task' | 'args'> {
  task: string;
  args: string[];
}

export const toWire = (p: PendingCall): PendingWire => ({
  ...p,
  task: p.task.toString(),
  args: p.args.map((a) => a.toString()),
});

export const fromWire = (p: PendingWire): PendingCall => ({
  ...p,
  task: BigInt(p.task),
  args: p.args.map((a) => BigInt(a)),
  // JSON writes an array's undefined as null.
  shown: p.shown.map((v) => v ?? undefined),
  pid: p.pid ?? undefined,
  comm: p.comm ?? undefined,
});

const NO_RETURN = new Set([93, 94]); // exit, exit_group
/** Calls whose result is a new file descriptor (dup, dup3, openat, socket, accept, accept4, openat2). */
const FD_RESULT = new Set([23, 24, 56, 198, 202, 242, 437]);
const SET_TID_ADDRESS = 96,
  GETPID = 172,
  GETTID = 178,
  EXECVE = 221;

/** Longest string or buffer shown, as strace's -s. */
const SHOW = 32;

export function quote(bytes: Uint8Array, max = SHOW): string {
  let s = '"';
  for (const b of bytes.subarray(0, max)) {
    if (b === 0x22) s += '\\"';
    else if (b === 0x5c) s += '\\\\';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x09) s += '\\t';
    else if (b === 0x0d) s += '\\r';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return s + '"' + (bytes.length > max ? '...' : '');
}

const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const hex = (v: bigint): string => (v === 0n ? '0' : `0x${BigInt.asUintN(64, v).toString(16)}`);

export class SyscallTracer {
  private readonly pending = new Map<bigint, PendingCall>();
  /** Each task's first act in this replay. */
  readonly firstEvents = new Map<bigint, FirstEvent>();
  /** Trace only the calls seeded (their results), no new ones. */
  seedOnly = false;
  /** Lines written. */
  lines = 0;

  /** Each call traced, as it is written (after the filters). */
  onCall: ((c: TracedCall) => void) | undefined;

  constructor(
    private readonly guest: GuestView,
    private readonly layout: TaskLayout,
    /** A line, and the icount it is written at (its place among all lines). */
    private readonly write: (line: string, key: number) => void,
    private readonly filter: TraceFilter = {},
    /** Guest time now, in µs. */
    private readonly nowUs: () => number = () => 0,
    /** Name what file descriptors refer to (`-y`). */
    private readonly fdPaths?: FdPaths,
  ) {}

  private task(): bigint {
    return this.guest.csr(CSR.sscratch) ?? 0n;
  }

  /** Calls entered before this replay began, waiting for their results. */
  seed(calls: PendingCall[]): void {
    for (const p of calls) this.pending.set(p.task, p);
  }

  /** The calls entered and not yet returned, oldest first. */
  pendingCalls(): PendingCall[] {
    return [...this.pending.values()].sort((a, b) => a.icount - b.icount);
  }

  /** Seeded calls not yet returned. */
  get waiting(): number {
    return this.pending.size;
  }

  onTrap(t: TrapEvent): void {
    if (t.name !== 'ecall-u') return;
    const g = this.guest;
    const task = this.task();
    if (!this.firstEvents.has(task)) this.firstEvents.set(task, { kind: 'call' });
    if (this.seedOnly) return;
    const nr = Number(g.x('a7'));
    const args = [10, 11, 12, 13, 14, 15].map((r) => g.x(r));
    const kinds = SYSCALLS[nr]?.args ?? [];
    const shown = args.map((v, i) => this.atEntry(kinds[i], v, args[i + 1], task));
    const p: PendingCall = {
      task,
      icount: t.icount,
      us: this.nowUs(),
      nr,
      args,
      shown,
      pid: this.layout.pidOf(task),
      comm: this.layout.commOf(task),
    };
    if (NO_RETURN.has(nr)) this.emit(p, undefined, t.icount);
    else this.pending.set(task, p);
  }

  onXret(x: XretEvent): void {
    if (x.kind !== 'sret' || x.to !== 'U') return;
    const task = this.task();
    if (!this.firstEvents.has(task))
      this.firstEvents.set(task, {
        kind: 'return',
        icount: x.icount,
        a0: s64(this.guest.x('a0')).toString(),
      });
    const p = this.pending.get(task);
    if (p === undefined) return;
    this.pending.delete(task);
    const r = s64(this.guest.x('a0'));
    // What a call says of its task teaches the layout (pid, name).
    if ((p.nr === SET_TID_ADDRESS || p.nr === GETTID || p.nr === GETPID) && r > 0n)
      this.layout.sawPid(task, Number(r));
    if (p.nr === EXECVE && r === 0n && p.shown[0]?.startsWith('"')) {
      const path = JSON.parse(p.shown[0]) as string;
      this.layout.sawComm(task, path.slice(path.lastIndexOf('/') + 1));
    }
    p.pid ??= this.layout.pidOf(task);
    // A path the guest had not touched yet (its page not mapped in) was read in by the call.
    const kinds = SYSCALLS[p.nr]?.args ?? [];
    kinds.forEach((k, i) => {
      if (k === 'path' && p.shown[i]?.startsWith('0x'))
        p.shown[i] = this.atEntry(k, p.args[i], undefined, task);
    });
    this.emit(p, r, x.icount);
  }

  /**
   * The calls still waiting for a result at the end (a task blocked in the
   * kernel), oldest first, after every other line.
   */
  finish(): void {
    for (const p of this.pendingCalls()) this.emit(p, undefined, Infinity);
    this.pending.clear();
  }

  /**
   * Whether the line of `p`, returning `r`, shows guest memory as it is at
   * the return: a buffer the call filled, a path first read by the call, a
   * new descriptor's name. Otherwise `returned` can write it anywhere.
   */
  needsGuestAtReturn(p: PendingCall, r: bigint): boolean {
    const kinds = SYSCALLS[p.nr]?.args ?? [];
    return (
      kinds.some(
        (k, i) => (k === 'rbuf' && r >= 0n) || (k === 'path' && p.shown[i]?.startsWith('0x')),
      ) ||
      (this.fdPaths !== undefined && FD_RESULT.has(p.nr) && r >= 0n)
    );
  }

  /** The line of a call handed on from another replay, which returned `r` at icount `key`. */
  returned(p: PendingCall, r: bigint, key: number): void {
    this.emit(p, r, key);
  }

  /** Lines for calls that never returned, handed on from other replays (a segmented trace's end). */
  finishCalls(calls: PendingCall[]): void {
    for (const p of [...calls].sort((a, b) => a.icount - b.icount))
      this.emit(p, undefined, Infinity);
  }

  private atEntry(
    kind: ArgKind | undefined,
    v: bigint,
    next: bigint | undefined,
    task: bigint,
  ): string | undefined {
    const g = this.guest;
    switch (kind) {
      case 'fd': {
        const fd = Number(BigInt.asIntN(32, v));
        const name = this.fdPaths && fd >= 0 ? this.fdPaths.name(task, fd) : undefined;
        return name === undefined ? undefined : `${fd}<${name}>`;
      }
      case 'path': {
        if (v === 0n) return 'NULL';
        const s = g.readCString(v, 4096);
        return s === undefined ? hex(v) : JSON.stringify(s);
      }
      case 'wbuf':
        return v === 0n ? 'NULL' : quote(g.read(v, Math.min(Number(next ?? 0n), SHOW + 1)));
      case 'sockaddr':
        return v === 0n ? 'NULL' : sockaddr(g.read(v, Math.min(Number(next ?? 0n), 128)));
      case 'argv': {
        if (v === 0n) return 'NULL';
        const items: string[] = [];
        for (let i = 0; i < 32; i++) {
          const b = g.read(v + BigInt(8 * i), 8);
          if (b.length < 8) break;
          const ptr = new DataView(b.buffer).getBigUint64(0, true);
          if (ptr === 0n) break;
          items.push(JSON.stringify(g.readCString(ptr, 256) ?? '?'));
        }
        return `[${items.join(', ')}]`;
      }
      default:
        return undefined;
    }
  }

  private arg(
    kind: ArgKind | undefined,
    v: bigint,
    shown: string | undefined,
    r: bigint | undefined,
  ): string {
    if (shown !== undefined) return shown;
    const n = s64(v);
    switch (kind) {
      case 'int':
        return n.toString();
      case 'uint':
        return BigInt.asUintN(64, v).toString();
      case 'fd':
        return Number(BigInt.asIntN(32, v)) === -100 ? 'AT_FDCWD' : BigInt.asIntN(32, v).toString();
      case 'oflags':
        return openFlags(Number(BigInt.asUintN(32, v)));
      case 'mode':
        return `0${BigInt.asUintN(32, v).toString(8)}`;
      case 'signal':
        return signalName(Number(v));
      case 'rbuf':
        if (v === 0n) return 'NULL';
        return r !== undefined && r >= 0n
          ? quote(this.guest.read(v, Math.min(Number(r), SHOW + 1)))
          : hex(v);
      default:
        return hex(v);
    }
  }

  private emit(p: PendingCall, r: bigint | undefined, key: number): void {
    const f = this.filter;
    if (f.syscalls && !f.syscalls.has(p.nr)) return;
    if (f.pids && (p.pid === undefined || !f.pids.has(p.pid))) return;
    if (f.comms && (p.comm === undefined || !f.comms.has(p.comm))) return;
    const info = SYSCALLS[p.nr];
    const name = info?.name ?? `syscall_${p.nr}`;
    const kinds = info?.args ?? ['hex', 'hex', 'hex', 'hex', 'hex', 'hex'];
    const args = kinds.map((k, i) => this.arg(k, p.args[i], p.shown[i], r));
    let result = '?';
    if (r !== undefined) {
      if (r < 0n && r > -4096n) result = `-1 ${ERRNO[Number(-r)] ?? `E${-r}`}`;
      else result = ADDRESS_RESULT.has(p.nr) || r >= 0x100000000n ? hex(r) : r.toString();
      if (this.fdPaths && r >= 0n && r < 0x100000000n && FD_RESULT.has(p.nr)) {
        const name = this.fdPaths.name(p.task, Number(r));
        if (name !== undefined) result += `<${name}>`;
      }
    }
    const who = `${p.pid ?? '?'} ${p.comm ?? '?'}`;
    this.write(
      `${String(p.icount).padStart(12)} ${who} ${name}(${args.join(', ')}) = ${result}`,
      key,
    );
    this.lines++;
    this.onCall?.({
      icount: p.icount,
      us: p.us,
      endUs: r === undefined ? p.us : this.nowUs(),
      pid: p.pid,
      comm: p.comm,
      name,
      args: args.join(', '),
      result,
    });
  }
}
