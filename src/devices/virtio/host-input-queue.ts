/**
 * Host input waiting for the guest to post receive buffers (network frames,
 * console bytes). Input enters at an instruction boundary through the gate;
 * it leaves only when the guest gives buffers — both deterministic — so a
 * replay that injects at the same icounts sees the same deliveries. Bounded
 * like a real device's FIFO: beyond the bound, input is dropped and counted.
 */
import { SnapshotError, loadFields, saveFields, type State } from '../../snapshot/state.js';
/** The fields that make up this part's state (snapshots, checkpoints). */
const QUEUE_STATE_FIELDS = ['items', 'bytes', 'dropped'];

export class HostInputQueue {
  private items: Uint8Array[] = [];
  private bytes = 0;
  dropped = 0;

  constructor(
    private readonly maxItems: number,
    private readonly maxBytes: number,
  ) {}

  saveState(): State {
    return saveFields(this, QUEUE_STATE_FIELDS);
  }

  loadState(s: State): void {
    loadFields(this, s, QUEUE_STATE_FIELDS, 'input queue');
    const items = this.items as unknown[];
    const ok =
      Array.isArray(items) &&
      items.length <= this.maxItems &&
      items.every((it) => it instanceof Uint8Array) &&
      this.bytes === this.items.reduce((n, it) => n + it.length, 0) &&
      this.bytes <= this.maxBytes;
    if (!ok) {
      this.clear();
      throw new SnapshotError('input queue: malformed in the snapshot');
    }
  }

  push(item: Uint8Array): boolean {
    if (this.items.length >= this.maxItems || this.bytes + item.length > this.maxBytes) {
      this.dropped++;
      return false;
    }
    this.items.push(item);
    this.bytes += item.length;
    return true;
  }

  peek(): Uint8Array | undefined {
    return this.items[0];
  }

  shift(): Uint8Array | undefined {
    const it = this.items.shift();
    if (it) this.bytes -= it.length;
    return it;
  }

  /** Replace the head with its unconsumed tail (byte streams). */
  replaceHead(rest: Uint8Array): void {
    this.bytes -= this.items[0].length - rest.length;
    this.items[0] = rest;
  }

  get length(): number {
    return this.items.length;
  }

  clear(): void {
    this.items = [];
    this.bytes = 0;
  }
}
