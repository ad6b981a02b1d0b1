/**
 * virtio-console (virtio 1.2 §5.3), a single port (hvc0): output to a
 * ByteSink, input from the gate through deliver().
 *
 * Input is held until the guest can take it. With VIRTIO_CONSOLE_F_MULTIPORT
 * (offered, one port) the driver says so: it sends PORT_OPEN for port 0 once
 * the port is its console (§5.3.6.2). Linux discards whatever reaches a port
 * before then, so bytes piped in at start-up would be lost without this rule
 * — the counterpart of the UART's "held until RX interrupts are enabled".
 * A driver without MULTIPORT gets input as soon as it posts receive buffers.
 */
import type { ByteSink } from './backends.js';
import type { VirtioDeviceModel, VirtioHost } from './device-model.js';
import { CompletionQueue } from './completions.js';
import { HostInputQueue } from './host-input-queue.js';
import { SnapshotError, loadFields, saveFields, sub, type State } from '../../snapshot/state.js';

const RX = 0;
const TX = 1;
/** The control queues, present with MULTIPORT (§5.3.2). */
const CONTROL_RX = 2;
const CONTROL_TX = 3;
const F_MULTIPORT = 1;
/** Largest output chunk taken from one request; bounds host work. */
const MAX_OUTPUT = 1 << 20;
const TX_TICKS = 20;
/** Control messages the driver has not yet given buffers for; more means a driver that never reads them. */
const MAX_CONTROL_BACKLOG = 64;

// Control events (§5.3.6.2): le32 id, le16 event, le16 value.
const DEVICE_READY = 0;
const PORT_ADD = 1;
const PORT_READY = 3;
const CONSOLE_PORT = 4;
const PORT_OPEN = 6;

/** The fields that make up this device's own state besides its queues. */
const CONSOLE_STATE_FIELDS = ['config', 'dropped', 'portOpen', 'controlOut'];

export class VirtioConsole implements VirtioDeviceModel {
  readonly deviceId = 3;
  readonly name = 'virtio-console';
  readonly features: number[] = [F_MULTIPORT];
  readonly queueSizes = [64, 64, 16, 16];
  /** cols, rows, max_nr_ports (one), emerg_wr (§5.3.4). */
  readonly config = new Uint8Array(12);
  private host!: VirtioHost;
  private readonly txDone = new CompletionQueue();
  private readonly incoming = new HostInputQueue(4096, 1 << 20);
  dropped = 0;
  /** MULTIPORT: the driver opened port 0 (PORT_OPEN 1), so input may flow. */
  private portOpen = false;
  /** MULTIPORT: control messages for the driver, waiting for its buffers. */
  private controlOut: Uint8Array[] = [];

  constructor(private readonly sink: ByteSink) {
    new DataView(this.config.buffer).setUint32(4, 1, true);
  }

  saveState(): State {
    return {
      ...saveFields(this, CONSOLE_STATE_FIELDS),
      txDone: this.txDone.saveState(),
      incoming: this.incoming.saveState(),
    };
  }

  loadState(s: State): void {
    loadFields(this, s, CONSOLE_STATE_FIELDS, 'virtio-console');
    const out = this.controlOut as unknown[];
    if (
      !Array.isArray(out) ||
      out.length > MAX_CONTROL_BACKLOG ||
      !out.every((m) => m instanceof Uint8Array && m.length === 8)
    ) {
      this.controlOut = [];
      throw new SnapshotError('virtio-console: control messages malformed in the snapshot');
    }
    this.txDone.loadState(sub(s, 'txDone', 'virtio-console'));
    this.incoming.loadState(sub(s, 'incoming', 'virtio-console'));
  }

  attach(host: VirtioHost): void {
    this.host = host;
  }

  reset(): void {
    this.txDone.clear();
    this.portOpen = false;
    this.controlOut = [];
  }

  /** Host input (through the gate): bytes for the guest. */
  deliver(bytes: Uint8Array): void {
    this.host.guard(() => {
      if (!this.incoming.push(bytes)) this.dropped++;
      this.fillRx();
    });
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
    } else if (q === CONTROL_TX) this.readControl();
    else if (q === CONTROL_RX) this.sendControl();
  }

  private multiport(): boolean {
    return this.host.negotiated(F_MULTIPORT);
  }

  /** Messages from the driver: answer its start-up handshake, follow port 0's open state. */
  private readControl(): void {
    const queue = this.host.queue(CONTROL_TX);
    let any = false;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      if (!chain.badBuffer && chain.readableBytes >= 8) {
        const m = chain.readAll(8);
        const v = new DataView(m.buffer, m.byteOffset, 8);
        const id = v.getUint32(0, true);
        const event = v.getUint16(4, true);
        const value = v.getUint16(6, true);
        if (event === DEVICE_READY && value === 1) this.queueControl(0, PORT_ADD, 0);
        else if (event === PORT_READY && id === 0 && value === 1) {
          this.queueControl(0, CONSOLE_PORT, 1);
          this.queueControl(0, PORT_OPEN, 1); // the host side is connected
        } else if (event === PORT_OPEN && id === 0) {
          this.portOpen = value === 1;
          if (this.portOpen) this.fillRx();
        }
      }
      queue.push(chain.head, 0);
      any = true;
    }
    if (any) this.host.returned(CONTROL_TX);
    this.sendControl();
  }

  private queueControl(id: number, event: number, value: number): void {
    if (this.controlOut.length >= MAX_CONTROL_BACKLOG) return;
    const m = new Uint8Array(8);
    const v = new DataView(m.buffer);
    v.setUint32(0, id, true);
    v.setUint16(4, event, true);
    v.setUint16(6, value, true);
    this.controlOut.push(m);
  }

  private sendControl(): void {
    if (!this.host.live() || !this.multiport()) return;
    const queue = this.host.queue(CONTROL_RX);
    let any = false;
    while (this.controlOut.length && queue.hasAvailable()) {
      const chain = queue.pop()!;
      const m = this.controlOut.shift()!;
      queue.push(chain.head, chain.badBuffer ? 0 : chain.writeAt(0, m));
      any = true;
    }
    if (any) this.host.returned(CONTROL_RX);
  }

  private fillRx(): void {
    if (!this.host.live()) return;
    if (this.multiport() && !this.portOpen) return;
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
