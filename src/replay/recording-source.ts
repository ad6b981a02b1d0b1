/**
 * Where a recording's bytes come from: a whole file in memory (the browser,
 * tests) or a file read a piece at a time (src/host/recording-file.ts), so
 * that reading a long recording costs the pieces a replay reaches, not the
 * file's length.
 */
export interface RecordingSource {
  /** Bytes in the recording. */
  readonly size: number;
  /** `len` bytes from `at` (fewer only at the end); the caller may keep them. */
  read(at: number, len: number): Uint8Array;
  close?(): void;
}

/** A recording held in memory. */
export class BytesSource implements RecordingSource {
  constructor(private readonly bytes: Uint8Array) {}

  get size(): number {
    return this.bytes.length;
  }

  read(at: number, len: number): Uint8Array {
    return this.bytes.subarray(at, Math.min(this.bytes.length, at + len));
  }
}
