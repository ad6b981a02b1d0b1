/**
 * virtio-console (virtio 1.2 §5.3), a single port (hvc0): output to a
 * ByteSink, input from the gate through deliver(), held until the guest
 * posts receive buffers.
 */
import type { ByteSink } from './backends.js';
import type { VirtioDeviceModel, VirtioHost } from './device-model.js';
import { CompletionQueue } from './completions.js';
import { HostInputQueue } from './host-input-queue.js';
import { loadFields, sub, type State } from '../../snapshot/state.js';

const RX = 0;
const TX = 1;
/** Largest output chunk taken from one request; bounds host work. */
const MAX_OUTPUT = 1 << 20;
const TX_TICKS = 20;

export class VirtioConsole implements VirtioDeviceModel {
  readonly deviceId = 3;
  readonly name = 'virtio-console';
  readonly features: number[] = [];
  readonly queueSizes = [64, 64];
  /** cols, rows, max_nr_ports, emerg_wr (§5.3.4); unused without the matching features. */
  readonly config = new Uint8Array(12);
  private host!: VirtioHost;
  private readonly txDone = new CompletionQueue();
  private readonly incoming = new HostInputQueue(4096, 1 << 20);
  dropped = 0;

  constructor(private readonly sink: ByteSink) {}

  saveState(): State {
    return {
      config: this.config.slice(),
      dropped: this.dropped,
      txDone: this.txDone.saveState(),
      incoming: this.incoming.saveState(),
    };
  }

  loadState(s: State): void {
    loadFields(this, s, ['config', 'dropped'], 'virtio-console');
    this.txDone.loadState(sub(s, 'txDone', 'virtio-console'));
    this.incoming.loadState(sub(s, 'incoming', 'virtio-console'));
  }

  attach(host: VirtioHost): void {
    this.host = host;
  }

  reset(): void {
    this.txDone.clear();
  }

  /** Host input (through the gate): bytes for the guest. */
  deliver(bytes: Uint8Array): void {
    if (!this.incoming.push(bytes)) this.dropped++;
    this.fillRx();
  }

  /** Input is waiting for the guest to read it. */
  hasPendingInput(): boolean {
    return this.incoming.length > 0;
  }

  nextDeadline(): number {
    return this.txDone.nextDeadline();
  }

  update(now: number): void {
    this.txDone.complete(this.host, now);
  }

  notify(q: number): void {
    if (q === RX) this.fillRx();
    else if (q === TX) {
      const queue = this.host.queue(TX);
      const due = this.host.now() + TX_TICKS;
      for (let chain = queue.pop(); chain; chain = queue.pop()) {
        if (!chain.badBuffer && chain.readableBytes > 0)
          this.sink.write(chain.readAll(Math.min(chain.readableBytes, MAX_OUTPUT)));
        this.txDone.add(due, TX, chain.head, 0);
      }
    }
  }

  private fillRx(): void {
    if (!this.host.live()) return;
    const queue = this.host.queue(RX);
    let any = false;
    while (this.incoming.length && queue.hasAvailable()) {
      const chain = queue.pop()!;
      const head = this.incoming.peek()!;
      const n = chain.badBuffer ? 0 : chain.writeAt(0, head);
      if (n >= head.length) this.incoming.shift();
      else if (n > 0) this.incoming.replaceHead(head.subarray(n));
      queue.push(chain.head, n);
      any = true;
      if (n === 0 && !chain.badBuffer) break; // zero-length buffers: don't spin
    }
    if (any) this.host.returned(RX);
  }
}
