/** A raw disk image file as a BlockStore: synchronous positioned I/O. */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { BlockIoError, type BlockStore } from '../devices/virtio/backends.js';
import { DriveError } from './drive-options.js';

/** Open an image file, with the errors a user can act on. Returns the fd and usable size. */
export function openImage(path: string, writable: boolean): { fd: number; size: number } {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new DriveError(`disk image '${path}' does not exist`);
  }
  if (!st.isFile()) throw new DriveError(`disk image '${path}' is not a regular file`);
  const size = Math.floor(st.size / 512) * 512;
  if (size === 0) throw new DriveError(`disk image '${path}' is smaller than one 512-byte sector`);
  try {
    return { fd: openSync(path, writable ? 'r+' : 'r'), size };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DriveError(
      `cannot open disk image '${path}'${writable ? ' for writing' : ''}: ${code ?? String(e)}` +
        (writable && (code === 'EACCES' || code === 'EROFS')
          ? ' (use readonly=on or snapshot=on)'
          : ''),
    );
  }
}

/** Read exactly dest.length bytes at `pos` (zeros past the end of the file). */
export function preadFull(fd: number, dest: Uint8Array, pos: number): void {
  let done = 0;
  while (done < dest.length) {
    const n = readSync(fd, dest, done, dest.length - done, pos + done);
    if (n === 0) {
      dest.fill(0, done);
      return;
    }
    done += n;
  }
}

export function pwriteFull(fd: number, src: Uint8Array, pos: number): void {
  let done = 0;
  while (done < src.length) done += writeSync(fd, src, done, src.length - done, pos + done);
}

function io<T>(what: string, f: () => T, partial = false): T {
  try {
    return f();
  } catch (e) {
    throw new BlockIoError(`${what}: ${(e as Error).message}`, partial);
  }
}

export class RawFileStore implements BlockStore {
  readonly size: number;
  private fd: number;

  constructor(
    readonly path: string,
    readonly readOnly: boolean,
  ) {
    const img = openImage(path, !readOnly);
    this.fd = img.fd;
    this.size = img.size;
  }

  read(offset: number, dest: Uint8Array): void {
    io('read', () => preadFull(this.fd, dest, offset));
  }

  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new BlockIoError('read-only disk');
    // Written in place: a write that fails midway may have changed part of the image.
    io('write', () => pwriteFull(this.fd, src, offset), true);
  }

  flush(): void {
    if (!this.readOnly) io('flush', () => fsyncSync(this.fd));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** File size check for callers that keep the fd (tests). */
  fileSize(): number {
    return fstatSync(this.fd).size;
  }
}
