/**
 * An image file (firmware, kernel, initrd, disk, snapshot) opened once: it
 * must be a regular file — a device such as /dev/zero would hash forever and
 * a FIFO would block — and everything done with it (hashing, reading,
 * serving a disk) goes through the one descriptor, so what was checked is
 * what is used. Its identity (device, inode, size, times) is kept to notice
 * a file that changes while a recording runs on it.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  read,
  statSync,
  type BigIntStats,
} from 'node:fs';
import { fdDigest, readFully } from './file-digest.js';

/** The image cannot be used as one (missing, not a regular file, unreadable). */
export class ImageFileError extends Error {}

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

const identity = (st: BigIntStats): FileIdentity => ({
  dev: st.dev,
  ino: st.ino,
  size: st.size,
  mtimeNs: st.mtimeNs,
  ctimeNs: st.ctimeNs,
});

/** The identity as one string: equal strings, the same file unchanged (as far as its times tell). */
export const identityKey = (id: FileIdentity): string =>
  `${id.dev}:${id.ino}:${id.size}:${id.mtimeNs}:${id.ctimeNs}`;

export class ImageFile {
  private closed = false;

  private constructor(
    readonly path: string,
    readonly what: string,
    readonly fd: number,
    /** As it was when opened. */
    readonly identity: FileIdentity,
  ) {}

  /**
   * Open `path` for reading; `what` names it in errors ("disk image",
   * "kernel"). Opened non-blocking so that a FIFO is refused rather than
   * waited on.
   */
  static open(path: string, what: string): ImageFile {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ImageFileError(
        code === 'ENOENT'
          ? `${what} '${path}' does not exist`
          : `${what} '${path}' cannot be opened: ${code ?? (e as Error).message}`,
      );
    }
    let st: BigIntStats;
    try {
      st = fstatSync(fd, { bigint: true });
    } catch (e) {
      closeSync(fd);
      throw new ImageFileError(`${what} '${path}' cannot be read: ${(e as Error).message}`);
    }
    if (!st.isFile()) {
      closeSync(fd);
      throw new ImageFileError(`${what} '${path}' is not a regular file`);
    }
    return new ImageFile(path, what, fd, identity(st));
  }

  /** Size in bytes when opened. */
  get size(): number {
    return Number(this.identity.size);
  }

  /** Its identity now (of the open file, whatever its path names now). */
  stat(): FileIdentity {
    return identity(fstatSync(this.fd, { bigint: true }));
  }

  /** SHA-256 (hex) of its `size` bytes, read through the descriptor (see digest-cache.ts to remember it). */
  hash(): string {
    return fdDigest(this.fd, this.size);
  }

  /** All its bytes (the size it had when opened; a file that shrank since is an error). */
  readAll(): Uint8Array {
    const readFromNs = BigInt(Date.now()) * 1_000_000n;
    const buf = new Uint8Array(this.size);
    return this.readDone(buf, readFully(this.fd, buf, 0), readFromNs);
  }

  /**
   * readAll() on libuv's thread pool: the copy and the first touches of the
   * new buffer's pages (about a millisecond per 100 pages on this project's
   * reference host) are paid there, while the main thread does other work.
   * The file must stay open until the promise settles.
   */
  readAllAsync(): Promise<Uint8Array> {
    const readFromNs = BigInt(Date.now()) * 1_000_000n;
    const buf = new Uint8Array(this.size);
    return new Promise<number>((resolve, reject) => {
      const more = (done: number): void => {
        if (done === buf.length) return resolve(done);
        try {
          read(this.fd, buf, done, buf.length - done, done, (err, n) =>
            err ? reject(err) : n === 0 ? resolve(done) : more(done + n),
          );
        } catch (e) {
          reject(e as Error);
        }
      };
      more(0);
    }).then(
      (n) => this.readDone(buf, n, readFromNs),
      (e: Error) => {
        throw new ImageFileError(`${this.what} '${this.path}' cannot be read: ${e.message}`);
      },
    );
  }

  /** readAll(), then close, with a failure told as `mapError` says. */
  readAllAndClose(mapError: (e: unknown) => Error): Uint8Array {
    try {
      return this.readAll();
    } catch (e) {
      throw mapError(e);
    } finally {
      this.close();
    }
  }

  /** readAllAsync(), then close, with a failure told as `mapError` says. */
  readAllAsyncAndClose(mapError: (e: unknown) => Error): Promise<Uint8Array> {
    return this.readAllAsync()
      .catch((e: unknown) => {
        throw mapError(e);
      })
      .finally(() => this.close());
  }

  private readDone(buf: Uint8Array, n: number, readFromNs: bigint): Uint8Array {
    if (n !== buf.length)
      throw new ImageFileError(
        `${this.what} '${this.path}' shrank while being read (${n} of ${buf.length} bytes)`,
      );
    readFrom.set(buf, { path: this.path, identity: this.identity, readFromNs });
    return buf;
  }

  /**
   * How the image differs from when it was opened, or undefined: written
   * (size or times changed) or replaced (its path names another file now).
   */
  changedSinceOpen(): string | undefined {
    const was = this.identity;
    let now: FileIdentity;
    try {
      now = this.stat();
    } catch (e) {
      return `it can no longer be examined (${(e as Error).message})`;
    }
    if (now.size !== was.size) return `its size changed from ${was.size} to ${now.size} bytes`;
    if (now.mtimeNs !== was.mtimeNs || now.ctimeNs !== was.ctimeNs) return 'it was written';
    try {
      const named = statSync(this.path, { bigint: true });
      if (named.dev !== was.dev || named.ino !== was.ino)
        return `'${this.path}' names another file now`;
    } catch {
      return `'${this.path}' is gone`;
    }
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * A write within this long of a file's ctime may leave ctime as it was
 * (the kernel stamps times from a coarse clock), so a file changed that
 * recently is not trusted to be unchanged by its identity alone: as git's
 * "racily clean" entries, and as digest-cache.ts.
 */
export const RACY_NS = 2_000_000_000n;

/** Where bytes read by readAll() came from, and when: see unchangedSinceRead. */
const readFrom = new WeakMap<
  Uint8Array,
  { path: string; identity: FileIdentity; readFromNs: bigint }
>();

/**
 * Are these bytes, read whole by readAll(), still what their path holds?
 * True only when the path names the same file with the same size and
 * times, last changed well before the read began; false when that cannot
 * be told without reading it again (the caller then hashes the file).
 */
export function unchangedSinceRead(bytes: Uint8Array): boolean {
  return unchangedSource(bytes) !== undefined;
}

/** The file these bytes are, by path and identity, when unchangedSinceRead(bytes); else undefined. */
export function unchangedSource(
  bytes: Uint8Array,
): { path: string; identity: FileIdentity } | undefined {
  const from = readFrom.get(bytes);
  if (!from || from.readFromNs - from.identity.ctimeNs < RACY_NS) return undefined;
  try {
    const now = identityKey(identity(statSync(from.path, { bigint: true })));
    return now === identityKey(from.identity) ? from : undefined;
  } catch {
    return undefined;
  }
}

/** The bytes of a regular file, read through one descriptor. */
export function readImageFile(path: string, what: string): Uint8Array {
  const img = ImageFile.open(path, what);
  try {
    return img.readAll();
  } finally {
    img.close();
  }
}
