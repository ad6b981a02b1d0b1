/**
 * The checkpoints of a recording file, read when a replay starts from one:
 * found through the file's index (or its scan), each chunk checked as it is
 * read, and restored with the earlier checkpoints that hold its pages.
 */
import type { VirtMachine } from '../machine/virt.js';
import {
  parseCheckpoint,
  restoreCheckpoint,
  type CheckpointInfo,
  type ParsedCheckpoint,
} from './checkpoint-chunk.js';
import { CHUNK_CHECKPOINT, readChunkAt, type ParsedRecording } from './log-format.js';
import { RecordingFormatError } from './recording-error.js';

/** Bytes of parsed checkpoints kept for the next restore (a verifier restores one after another). */
const CACHE_BYTES = 256 << 20;

export class FileCheckpoints {
  readonly list: readonly CheckpointInfo[];
  /** Parsed checkpoints by number, most recently used last. */
  private readonly cache = new Map<number, ParsedCheckpoint>();
  private cachedBytes = 0;

  constructor(private readonly rec: ParsedRecording) {
    this.list = rec.checkpoints;
  }

  /** Checkpoints found damaged when read: not offered again. */
  private readonly bad = new Set<number>();

  /** The latest usable checkpoint at or before `icount` (undefined: none). */
  before(icount: number): CheckpointInfo | undefined {
    let best: CheckpointInfo | undefined;
    for (const c of this.list) if (c.icount <= icount && !this.bad.has(c.seq)) best = c;
    return best;
  }

  /** Checkpoint `seq` read, checked and taken apart (RecordingFormatError when it cannot be). */
  load(seq: number, ramPages: number): ParsedCheckpoint {
    const hit = this.cache.get(seq);
    if (hit && hit.map.length === ramPages) {
      this.cache.delete(seq);
      this.cache.set(seq, hit);
      return hit;
    }
    const cp = this.read(seq, ramPages);
    // Kept for later restores: most take the same earlier checkpoints' pages.
    this.cache.set(seq, cp);
    this.cachedBytes += cp.raw.length;
    for (const [k, v] of this.cache) {
      if (this.cachedBytes <= CACHE_BYTES || k === seq) break;
      this.cache.delete(k);
      this.cachedBytes -= v.raw.length;
    }
    return cp;
  }

  private read(seq: number, ramPages: number): ParsedCheckpoint {
    const c = this.list[seq];
    if (!c) throw new RecordingFormatError(`the recording has no checkpoint ${seq}`);
    let cp: ParsedCheckpoint;
    try {
      const raw = readChunkAt(this.rec.source, c.at, CHUNK_CHECKPOINT, c.storedLength, c.rawLength);
      cp = parseCheckpoint(raw, ramPages, this.rec.version);
    } catch (e) {
      throw new RecordingFormatError(
        `checkpoint ${seq} (icount ${c.icount}) cannot be read: ${(e as Error).message}`,
      );
    }
    const h = cp.head;
    if (h.seq !== seq || h.icount !== c.icount || h.eventIndex !== c.eventIndex)
      throw new RecordingFormatError(`checkpoint ${seq} is not the one the index names`);
    return cp;
  }

  /** Put the machine where checkpoint `seq` is (RecordingFormatError or SnapshotError when it cannot be). */
  restore(vm: VirtMachine, seq: number): CheckpointInfo {
    const pages = vm.bus.ram8.length / 4096;
    try {
      restoreCheckpoint(vm, this.load(seq, pages), (s) => this.load(s, pages));
    } catch (e) {
      this.bad.add(seq);
      throw e;
    }
    return this.list[seq];
  }
}
