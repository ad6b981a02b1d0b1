/** Parsing of machine options shared by the vmrs commands (QEMU's spellings and meanings). */
import { constants } from 'node:buffer';
import { ImageFile, ImageFileError } from '../host/image-file.js';
import { instructionCount } from '../util/instruction-count.js';

export class UsageError extends Error {
  /** The exit status vmrs ends with (1 unless the error says otherwise). */
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** `-m` sizes as QEMU takes them: a plain number is MiB; suffixes K, M, G (case-insensitive, optional B/iB). */
export function parseMemorySize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`invalid memory size '${text}' (examples: 256, 256M, 1G)`);
  const n = parseFloat(m[1]);
  const unit = m[2].toLowerCase();
  const mult =
    unit === 'k' ? 1024 : unit === 'g' ? 1024 ** 3 : unit === 't' ? 1024 ** 4 : 1024 * 1024;
  const bytes = Math.floor((n * mult) / 4096) * 4096;
  if (bytes < 1024 * 1024) throw new UsageError(`memory size '${text}' is too small (at least 1M)`);
  if (bytes > 16 * 1024 ** 3)
    throw new UsageError(`memory size '${text}' is too large (at most 16G)`);
  return bytes;
}

/**
 * Guest RAM is one typed array over one ArrayBuffer, so it can be no larger
 * than the longest typed array this Node allows (4 GiB on Node 20).
 */
export const MAX_GUEST_RAM = Math.min(16 * 1024 ** 3, constants.MAX_LENGTH);

/** `-m`: a memory size (as parseMemorySize) that this host can give a guest. */
export function parseGuestMemorySize(text: string): number {
  const bytes = parseMemorySize(text);
  if (bytes > MAX_GUEST_RAM)
    throw new UsageError(
      `memory size '${text}' is too large: at most ${MAX_GUEST_RAM / 1024 ** 3}G of guest RAM with Node ${process.versions.node}`,
    );
  return bytes;
}

/** An instruction count given to an option (`--to`, `--interval`…; see instructionCount), at least `min`. */
export function parseInstructionCount(option: string, text: string, min = 0): number {
  const n = instructionCount(text);
  if (n === undefined || n < min)
    throw new UsageError(
      `${option} must be an instruction count${min > 0 ? ` of at least ${min}` : ''}: a whole number, or with k, M or G (185M, 1.5G); not '${text}'`,
    );
  return n;
}

/**
 * Read an image file given on the command line, with one clear error when it
 * cannot be read: a regular file only, read through one descriptor.
 */
export function readImage(what: string, path: string): Uint8Array {
  return openImage(what, path).readAllAndClose((e) => readError(e, what, path));
}

/**
 * readImage on libuv's thread pool (ImageFile.readAllAsync). The file is
 * opened and checked at once, so a missing or empty image is an error
 * before the promise is made.
 */
export function readImageAsync(what: string, path: string): Promise<Uint8Array> {
  return openImage(what, path).readAllAsyncAndClose((e) => readError(e, what, path));
}

function openImage(what: string, path: string): ImageFile {
  let img: ImageFile;
  try {
    img = ImageFile.open(path, what);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (img.size === 0) {
    img.close();
    throw new UsageError(`${what} '${path}' is empty`);
  }
  return img;
}

function readError(e: unknown, what: string, path: string): UsageError {
  if (e instanceof UsageError) return e;
  if (e instanceof ImageFileError) return new UsageError(e.message);
  return new UsageError(`${what} '${path}' cannot be read: ${(e as Error).message}`);
}

/** Commander's collector for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
