/**
 * Where the guest kernel keeps a task's pid and command name, learned from
 * what the tasks themselves say, so no kernel symbols or structure layouts
 * are needed. On RISC-V Linux, `sscratch` holds the current task_struct's
 * address while a task runs in user mode (entry.S swaps it with tp), so a
 * system call names its task. When a call says who the task is — the
 * result of set_tid_address, gettid or getpid is its id; after a successful
 * execve its name is the program's file name (at most 15 bytes) — the
 * task_struct is searched for that value, and only the offsets where every
 * such sighting agrees remain. Two tasks with different ids settle the pid;
 * two programs with different names settle the name.
 */
import type { GuestView } from '../plugin/plugin-api.js';

/** How much of a task_struct is searched (pid and comm lie in its first few KiB). */
const SCAN = 8192;

/** Byte offsets in a task_struct (undefined: not known). */
export interface TaskOffsets {
  pid?: number;
  comm?: number;
}

export class TaskLayout {
  private pidCandidates: Set<number> | undefined;
  private commCandidates: Set<number> | undefined;
  private pidValues = new Set<number>();
  private commValues = new Set<string>();
  pidOffset: number | undefined;
  commOffset: number | undefined;
  private frozen = false;

  constructor(private guest: GuestView) {}

  /** Read tasks of another machine (a second replay of the same recording) with what was learned. */
  rebind(guest: GuestView): void {
    this.guest = guest;
  }

  /** What is known, as plain numbers (for other replays: worker threads, a job queue). */
  offsets(): TaskOffsets {
    return { pid: this.pidOffset, comm: this.commOffset };
  }

  /** A layout known beforehand (learned by another replay, or read from the kernel's DWARF). */
  static known(guest: GuestView, o: TaskOffsets): TaskLayout {
    const l = new TaskLayout(guest);
    l.pidOffset = o.pid;
    l.commOffset = o.comm;
    // What was not learned stays unknown: a replay of part of the run must name tasks as one of all of it.
    l.frozen = true;
    return l;
  }

  get settled(): boolean {
    return this.pidOffset !== undefined && this.commOffset !== undefined;
  }

  /** Task `task` has thread id `tid` (a 32-bit int in its task_struct). */
  sawPid(task: bigint, tid: number): void {
    if (this.frozen || this.pidOffset !== undefined || tid <= 0) return;
    const bytes = this.guest.read(task, SCAN);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const found = new Set<number>();
    for (let o = 0; o + 4 <= bytes.length; o += 4) if (dv.getInt32(o, true) === tid) found.add(o);
    this.pidCandidates = intersect(this.pidCandidates, found);
    this.pidValues.add(tid);
    // pid and tgid sit side by side and are equal in a single-threaded process: the first is pid.
    const c = [...this.pidCandidates].sort((a, b) => a - b);
    if (this.pidValues.size >= 2 && (c.length === 1 || (c.length === 2 && c[1] === c[0] + 4)))
      this.pidOffset = c[0];
  }

  /** Task `task` is now called `comm` (its program's file name, cut to 15 bytes). */
  sawComm(task: bigint, comm: string): void {
    if (this.frozen || this.commOffset !== undefined || comm.length === 0) return;
    const want = [...comm.slice(0, 15)].map((ch) => ch.charCodeAt(0) & 0xff);
    const bytes = this.guest.read(task, SCAN);
    const found = new Set<number>();
    for (let o = 0; o + want.length < bytes.length; o++) {
      let k = 0;
      while (k < want.length && bytes[o + k] === want[k]) k++;
      if (k === want.length && bytes[o + k] === 0) found.add(o);
    }
    this.commCandidates = intersect(this.commCandidates, found);
    this.commValues.add(comm);
    if (this.commValues.size >= 2 && this.commCandidates.size === 1)
      this.commOffset = [...this.commCandidates][0];
  }

  pidOf(task: bigint): number | undefined {
    if (this.pidOffset === undefined) return undefined;
    const b = this.guest.read(task + BigInt(this.pidOffset), 4);
    return b.length === 4 ? new DataView(b.buffer).getInt32(0, true) : undefined;
  }

  commOf(task: bigint): string | undefined {
    if (this.commOffset === undefined) return undefined;
    return this.guest.readCString(task + BigInt(this.commOffset), 16);
  }
}

function intersect(a: Set<number> | undefined, b: Set<number>): Set<number> {
  if (a === undefined) return b;
  return new Set([...a].filter((x) => b.has(x)));
}
