/**
 * The framed stream protocol of QEMU's `-netdev stream` and passt: each
 * Ethernet frame is sent as a 4-byte big-endian length and the frame.
 */
import type { Socket } from 'node:net';

const MAX_FRAME = 65535 + 4;
/** Beyond this much unsent data, frames are dropped: a NIC drops too, and we must never block. */
const MAX_BACKLOG = 4 << 20;

export interface LinkStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: number;
}

export class FramedStream {
  readonly stats: LinkStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0 };
  private pending: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly onFrame: (frame: Uint8Array) => void,
    private readonly onClose: (error?: string) => void,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (e) => this.close(e.message));
    socket.on('close', () => this.close());
  }

  get open(): boolean {
    return !this.closed;
  }

  send(frame: Uint8Array): void {
    if (this.closed || this.socket.writableLength > MAX_BACKLOG) {
      this.stats.dropped++;
      return;
    }
    const b = Buffer.allocUnsafe(4 + frame.length);
    b.writeUInt32BE(frame.length, 0);
    b.set(frame, 4);
    this.socket.write(b);
    this.stats.framesOut++;
    this.stats.bytesOut += frame.length;
  }

  private receive(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > MAX_FRAME) {
        this.close(`bad frame length ${len} from the network peer`);
        return;
      }
      if (buf.length < 4 + len) break;
      const frame = new Uint8Array(len);
      frame.set(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
      this.stats.framesIn++;
      this.stats.bytesIn += len;
      this.onFrame(frame);
      if (this.closed) return;
    }
    this.pending = Buffer.from(buf);
  }

  close(error?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(error);
  }
}
