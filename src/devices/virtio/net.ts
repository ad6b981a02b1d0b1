/**
 * virtio-net (virtio 1.2 §5.1): one receive and one transmit queue, a MAC
 * address, link status and an MTU. Frames the guest sends go to a FrameSink;
 * frames from the host enter through deliver() (called by the gate) and wait
 * in a bounded queue until the guest posts receive buffers.
 */
import type { FrameSink } from './backends.js';
import type { VirtioDeviceModel, VirtioHost } from './device-model.js';
import { CompletionQueue } from './completions.js';
import { HostInputQueue } from './host-input-queue.js';
import { loadFields, sub, type State } from '../../snapshot/state.js';

const F_MTU = 3;
const F_MAC = 5;
const F_STATUS = 16;

const RX = 0;
const TX = 1;
/** struct virtio_net_hdr with num_buffers: always 12 bytes with VERSION_1 (§5.1.6). */
const HDR_LEN = 12;
const MAX_FRAME = 65535;
export const NET_MTU = 1500;
/** Virtual time to put a transmitted frame on the wire: 2 µs. */
const TX_TICKS = 20;

export interface NetStats {
  framesOut: number;
  framesIn: number;
  bytesOut: number;
  bytesIn: number;
  /** Frames from the host dropped: the guest posted no buffers for too long, or too small ones. */
  rxDropped: number;
  /** Frames from the guest dropped: malformed or too large. */
  txDropped: number;
}

export class VirtioNet implements VirtioDeviceModel {
  readonly deviceId = 1;
  readonly name = 'virtio-net';
  readonly features = [F_MTU, F_MAC, F_STATUS];
  readonly queueSizes = [256, 256];
  readonly config = new Uint8Array(12);
  readonly stats: NetStats = {
    framesOut: 0,
    framesIn: 0,
    bytesOut: 0,
    bytesIn: 0,
    rxDropped: 0,
    txDropped: 0,
  };
  private host!: VirtioHost;
  private readonly txDone = new CompletionQueue();
  private readonly incoming = new HostInputQueue(512, 4 << 20);
  private readonly rxHeader = new Uint8Array(HDR_LEN);

  constructor(
    private readonly sink: FrameSink,
    readonly mac: Uint8Array,
    linkUp = true,
  ) {
    if (mac.length !== 6) throw new Error('MAC address must be 6 bytes');
    this.config.set(mac, 0);
    this.config[6] = linkUp ? 1 : 0; // status: VIRTIO_NET_S_LINK_UP
    this.config[10] = NET_MTU & 0xff;
    this.config[11] = NET_MTU >> 8;
    this.rxHeader[10] = 1; // num_buffers
  }

  attach(host: VirtioHost): void {
    this.host = host;
  }

  reset(): void {
    this.txDone.clear();
    this.incoming.clear();
  }

  saveState(): State {
    return {
      config: this.config.slice(),
      txDone: this.txDone.saveState(),
      incoming: this.incoming.saveState(),
    };
  }

  loadState(s: State): void {
    loadFields(this, s, ['config'], 'virtio-net');
    this.txDone.loadState(sub(s, 'txDone', 'virtio-net'));
    this.incoming.loadState(sub(s, 'incoming', 'virtio-net'));
  }

  get linkUp(): boolean {
    return (this.config[6] & 1) === 1;
  }

  /** Host side: the link went up or down (a host input: through the gate). */
  setLink(up: boolean): void {
    this.host.guard(() => {
      if (up === this.linkUp) return;
      this.config[6] = up ? 1 : 0;
      this.host.configChanged();
    });
  }

  /** Host side: a frame for the guest (through the gate). */
  deliver(frame: Uint8Array): void {
    this.host.guard(() => {
      if (!this.host.live() || !this.linkUp || frame.length > MAX_FRAME) {
        this.stats.rxDropped++;
        return;
      }
      if (!this.incoming.push(frame)) this.stats.rxDropped++;
      this.fillRx();
    });
  }

  nextDeadline(): number {
    return this.txDone.nextDeadline();
  }

  update(now: number): void {
    this.txDone.complete(this.host, now);
  }

  notify(q: number): void {
    if (q === RX) this.fillRx();
    else if (q === TX) this.transmit();
  }

  private transmit(): void {
    const queue = this.host.queue(TX);
    const due = this.host.now() + TX_TICKS;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const len = chain.readableBytes - HDR_LEN;
      if (chain.badBuffer || len < 14 || len > MAX_FRAME) this.stats.txDropped++;
      else {
        const frame = new Uint8Array(len);
        chain.readAt(HDR_LEN, frame);
        this.stats.framesOut++;
        this.stats.bytesOut += len;
        if (this.linkUp) this.sink.send(frame);
      }
      this.txDone.add(due, TX, chain.head, 0);
    }
  }

  /** Move waiting frames into the guest's receive buffers. */
  private fillRx(): void {
    if (!this.host.live()) return;
    const queue = this.host.queue(RX);
    let any = false;
    while (this.incoming.length && queue.hasAvailable()) {
      const chain = queue.pop()!;
      const frame = this.incoming.shift()!;
      if (chain.badBuffer || chain.writableBytes < HDR_LEN + frame.length) {
        // Too small a buffer for this frame (we don't offer mergeable buffers): drop the frame.
        this.stats.rxDropped++;
        queue.push(chain.head, 0);
      } else {
        chain.writeAt(0, this.rxHeader);
        chain.writeAt(HDR_LEN, frame);
        queue.push(chain.head, HDR_LEN + frame.length);
        this.stats.framesIn++;
        this.stats.bytesIn += frame.length;
      }
      any = true;
    }
    if (any) this.host.returned(RX);
  }
}
