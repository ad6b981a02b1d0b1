/**
 * Requests a device has finished but returns to the driver only at a fixed
 * virtual time later (DESIGN rule 4: completion never depends on host I/O
 * timing). Plain data, in due order, so a snapshot can save it.
 */
import type { VirtioHost } from './device-model.js';
import { SnapshotError, loadFields, saveFields, type State } from '../../snapshot/state.js';
import { VirtqueueError } from './virtqueue.js';

/** The fields that make up this part's state (snapshots, checkpoints). */
const COMPLETION_FIELDS = ['due', 'queue', 'head', 'written'];

export class CompletionQueue {
  private due: number[] = [];
  private queue: number[] = [];
  private head: number[] = [];
  private written: number[] = [];

  saveState(): State {
    return saveFields(this, COMPLETION_FIELDS);
  }

  loadState(s: State): void {
    loadFields(this, s, COMPLETION_FIELDS, 'completions');
    const n = this.due.length;
    const ok = (a: unknown[], max: number) =>
      a.length === n &&
      a.every((v) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max);
    if (
      !ok(this.due, Number.MAX_SAFE_INTEGER) ||
      !ok(this.queue, 31) ||
      !ok(this.head, 0xffff) ||
      !ok(this.written, 0xffffffff)
    ) {
      this.clear();
      throw new SnapshotError('completions: malformed in the snapshot');
    }
  }

  /** Return `head` on queue `q` with `written` bytes at tick `at` (not before earlier entries). */
  add(at: number, q: number, head: number, written: number): void {
    const n = this.due.length;
    this.due.push(n && this.due[n - 1] > at ? this.due[n - 1] : at);
    this.queue.push(q);
    this.head.push(head);
    this.written.push(written);
  }

  get length(): number {
    return this.due.length;
  }

  nextDeadline(): number {
    return this.due.length ? this.due[0] : Infinity;
  }

  /** Return everything due by `now`, interrupting once per queue touched. */
  complete(host: VirtioHost, now: number): void {
    let n = 0;
    while (n < this.due.length && this.due[n] <= now) n++;
    if (n === 0) return;
    let touched = 0;
    for (let i = 0; i < n; i++) {
      const q = host.queue(this.queue[i]);
      if (!q) throw new VirtqueueError(`completion for absent queue ${this.queue[i]}`);
      q.push(this.head[i], this.written[i]);
      touched |= 1 << this.queue[i];
    }
    this.due.splice(0, n);
    this.queue.splice(0, n);
    this.head.splice(0, n);
    this.written.splice(0, n);
    for (let q = 0; touched; q++, touched >>>= 1) if (touched & 1) host.returned(q);
  }

  clear(): void {
    this.due = [];
    this.queue = [];
    this.head = [];
    this.written = [];
  }
}
