/**
 * A recording file read a piece at a time through one descriptor (see
 * RecordingSource): a replay's memory follows where it is, not how long the
 * recording is. The file must be a regular file (a FIFO or device would
 * never end); its size is taken once, when opened, so a recording still
 * being written is read as the prefix it was then.
 */
import { readSync } from 'node:fs';
import { ImageFile } from './image-file.js';
import type { RecordingSource } from '../replay/recording-source.js';

/** The host could not read the recording (an I/O error), or it was read after being closed. */
export class RecordingReadError extends Error {}

export class RecordingFile implements RecordingSource {
  readonly size: number;
  private closed = false;

  private constructor(private readonly image: ImageFile) {
    this.size = Number(image.identity.size);
  }

  /** Throws ImageFileError for a missing, unreadable or irregular file. */
  static open(path: string): RecordingFile {
    return new RecordingFile(ImageFile.open(path, 'recording'));
  }

  read(at: number, len: number): Uint8Array {
    // Its descriptor number may belong to another file by now: never read through it.
    if (this.closed)
      throw new RecordingReadError(
        `the recording '${this.image.path}' was read after it was closed`,
      );
    const n = Math.max(0, Math.min(len, this.size - at));
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      let r: number;
      try {
        r = readSync(this.image.fd, out, got, n - got, at + got);
      } catch (e) {
        throw new RecordingReadError(
          `cannot read the recording '${this.image.path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
      if (r === 0) break; // the file shrank under us: what is left reads as a truncated chunk
      got += r;
    }
    return got === n ? out : out.subarray(0, got);
  }

  close(): void {
    this.closed = true;
    this.image.close();
  }
}
