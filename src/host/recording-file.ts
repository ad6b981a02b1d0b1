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

export class RecordingFile implements RecordingSource {
  readonly size: number;

  private constructor(private readonly image: ImageFile) {
    this.size = Number(image.identity.size);
  }

  /** Throws ImageFileError for a missing, unreadable or irregular file. */
  static open(path: string): RecordingFile {
    return new RecordingFile(ImageFile.open(path, 'recording'));
  }

  read(at: number, len: number): Uint8Array {
    const n = Math.max(0, Math.min(len, this.size - at));
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = readSync(this.image.fd, out, got, n - got, at + got);
      if (r === 0) break; // the file shrank under us: what is left reads as a truncated chunk
      got += r;
    }
    return got === n ? out : out.subarray(0, got);
  }

  close(): void {
    this.image.close();
  }
}
