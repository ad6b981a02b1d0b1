/**
 * A byte buffer that grows as it is written (doubling), for the writers of
 * the recording, the state digests and the translator's WebAssembly modules.
 * No Node APIs: the engine and the replay core use it in browsers too.
 */
export class GrowableBytes {
  buf: Uint8Array;
  /** Bytes written. */
  len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /** Make room for `n` more bytes. */
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  u8(v: number): void {
    if (this.len === this.buf.length) this.room(1);
    this.buf[this.len++] = v;
  }

  append(b: Uint8Array | readonly number[]): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A copy of what was written. */
  copy(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
