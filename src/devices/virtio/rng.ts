/**
 * virtio-rng (virtio 1.2 §5.4): fills the driver's buffers from an
 * EntropySource, which in a recording is the gate.
 */
import type { EntropySource } from './backends.js';
import type { VirtioDeviceModel, VirtioHost } from './device-model.js';
import { CompletionQueue } from './completions.js';
import { loadFields, sub, type State } from '../../snapshot/state.js';

/** Most bytes given per request: bounds host work whatever the guest asks. */
const MAX_REQUEST = 4096;
/** Virtual time to answer: 5 µs. */
const RNG_TICKS = 50;

export class VirtioRng implements VirtioDeviceModel {
  readonly deviceId = 4;
  readonly name = 'virtio-rng';
  readonly features: number[] = [];
  readonly queueSizes = [64];
  readonly config = new Uint8Array(0);
  bytesGiven = 0;
  private host!: VirtioHost;
  private readonly done = new CompletionQueue();

  constructor(private readonly source: EntropySource) {}

  saveState(): State {
    return { bytesGiven: this.bytesGiven, done: this.done.saveState() };
  }

  loadState(s: State): void {
    loadFields(this, s, ['bytesGiven'], 'virtio-rng');
    this.done.loadState(sub(s, 'done', 'virtio-rng'));
  }

  attach(host: VirtioHost): void {
    this.host = host;
  }

  reset(): void {
    this.done.clear();
  }

  nextDeadline(): number {
    return this.done.nextDeadline();
  }

  update(now: number): void {
    this.done.complete(this.host, now);
  }

  notify(q: number): void {
    const queue = this.host.queue(q);
    const due = this.host.now() + RNG_TICKS;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      let written = 0;
      // A request that can't be served gets no bytes (and takes none from the source).
      const n = chain.badBuffer ? 0 : Math.min(chain.writableBytes, MAX_REQUEST);
      if (n > 0) {
        const bytes = new Uint8Array(n);
        this.source.fill(bytes);
        written = chain.writeAt(0, bytes);
        this.bytesGiven += written;
      }
      this.done.add(due, q, chain.head, written);
    }
  }
}
