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

export class FileCheckpoints {
  readonly list: readonly CheckpointInfo[];

  constructor(private readonly rec: ParsedRecording) {
    this.list = rec.checkpoints;
  }

  /** The latest checkpoint at or before `icount` (undefined: none). */
  before(icount: number): CheckpointInfo | undefined {
    let best: CheckpointInfo | undefined;
    for (const c of this.list) if (c.icount <= icount) best = c;
    return best;
  }

  /** Checkpoint `seq` read, checked and taken apart (RecordingFormatError when it cannot be). */
  load(seq: number, ramPages: number): ParsedCheckpoint {
    const c = this.list[seq];
    if (!c) throw new RecordingFormatError(`the recording has no checkpoint ${seq}`);
    let cp: ParsedCheckpoint;
    try {
      const raw = readChunkAt(this.rec.source, c.at, CHUNK_CHECKPOINT, c.storedLength, c.rawLength);
      cp = parseCheckpoint(raw, ramPages);
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
    restoreCheckpoint(vm, this.load(seq, pages), (s) => this.load(s, pages));
    return this.list[seq];
  }
}
