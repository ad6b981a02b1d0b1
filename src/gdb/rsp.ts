/**
 * The GDB remote serial protocol's framing (GDB manual, "Overview" of the
 * remote protocol): `$data#cc` packets with a two-hex-digit modulo-256
 * checksum, `+`/`-` acknowledgements (until QStartNoAckMode), `}`-escaping
 * of `$ # } *`, and a bare 0x03 byte to interrupt a running target.
 * Bytes that fit none of these are ignored; a packet longer than the limit
 * drops the connection rather than growing without end.
 */
export const MAX_PACKET = 1 << 20;

export interface RspHandlers {
  packet(data: string): void;
  interrupt(): void;
  /** The peer sent something the protocol can't carry (oversized packet). */
  abuse(reason: string): void;
}

export class RspCodec {
  noAck = false;
  private buf = '';
  private inPacket = false;

  constructor(
    private readonly write: (s: string) => void,
    private readonly on: RspHandlers,
  ) {}

  /** Checksum characters still expected after '#' (0: not after '#'). */
  private sumLeft = 0;
  private sumText = '';

  /** Bytes from the socket (latin1: one char per byte). Linear in the input, whatever it is. */
  feed(chunk: string): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.inPacket) {
        const ch = chunk[i++];
        if (ch === '$') {
          this.inPacket = true;
          this.buf = '';
          this.sumLeft = 0;
        } else if (ch === '\x03') this.on.interrupt();
        // '+', '-' and noise between packets are ignored.
        continue;
      }
      if (this.sumLeft === 0) {
        // Body: take everything up to '#' in one piece.
        const hash = chunk.indexOf('#', i);
        const end = hash < 0 ? chunk.length : hash;
        this.buf += chunk.slice(i, end);
        i = end;
        if (this.buf.length > MAX_PACKET) {
          this.inPacket = false;
          this.buf = '';
          this.on.abuse(`packet longer than ${MAX_PACKET} bytes`);
          return;
        }
        if (hash >= 0) {
          i++;
          this.sumLeft = 2;
          this.sumText = '';
        }
        continue;
      }
      this.sumText += chunk[i++];
      if (--this.sumLeft > 0) continue;
      const body = this.buf;
      const sum = parseInt(this.sumText, 16);
      this.inPacket = false;
      this.buf = '';
      if (!/^[0-9a-fA-F]{2}$/.test(this.sumText) || sum !== checksum(body)) {
        if (!this.noAck) this.write('-');
        continue;
      }
      if (!this.noAck) this.write('+');
      this.on.packet(unescape(body));
    }
  }

  send(data: string): void {
    const body = escape(data);
    this.write(`$${body}#${checksum(body).toString(16).padStart(2, '0')}`);
  }
}

export function checksum(s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum = (sum + s.charCodeAt(i)) & 0xff;
  return sum;
}

function escape(s: string): string {
  return s.replace(/[$#}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
}

/**
 * Undo `}` escapes. The `#` that ends a packet can't be escaped data, so a
 * packet's body never holds a raw `#`; run-length encoding (`*`) is only
 * sent by stubs, never by GDB, and is not expected here.
 */
function unescape(s: string): string {
  if (!s.includes('}')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '}' && i + 1 < s.length) {
      out += String.fromCharCode(s.charCodeAt(++i) ^ 0x20);
    } else out += s[i];
  }
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A packet that does not say what its kind of packet must (answered with an error reply). */
export class BadPacketError extends RangeError {}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 || /[^0-9a-fA-F]/.test(s)) throw new BadPacketError('bad hex');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** A 64-bit register value (lo, hi words) as GDB wants it: 8 bytes little-endian in hex. */
export function reg64Hex(lo: number, hi: number): string {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, lo >>> 0, true);
  dv.setUint32(4, hi >>> 0, true);
  return toHex(b);
}
