/**
 * The recorder: receives the gate's events, adds state digests at fixed
 * icounts and the end marker, and writes checksummed, compressed chunks
 * through `write` (the host appends them to the file). A chunk is cut when
 * enough events are waiting or when the host asks (flush), so a killed
 * recorder loses at most its last moments.
 */
import type { VirtMachine, GuestExit } from '../machine/virt.js';
import type { EventSink } from './gate.js';
import { EMPTY, END_KINDS, EventType, type RecordedEvent } from './events.js';
import {
  EventChunkEncoder,
  encodeHeader,
  encodeImageChunk,
  encodeNoteChunk,
  type RecordingHeader,
} from './log-format.js';
import { StateDigester } from './state-digest.js';

/** Cut a chunk when this many uncompressed event bytes wait. */
const CHUNK_BYTES = 256 << 10;

export class Recorder implements EventSink {
  private readonly encoder = new EventChunkEncoder();
  private digester: StateDigester | undefined;
  private vm: VirtMachine | undefined;
  /** icount of the next state digest (Infinity: none). */
  nextDigestAt = Infinity;
  events = 0;
  bytesWritten = 0;

  constructor(
    private readonly write: (bytes: Uint8Array) => void,
    readonly header: RecordingHeader,
    images: Map<string, Uint8Array> = new Map(),
  ) {
    this.emit(encodeHeader(header));
    for (const [name, data] of images) this.emit(encodeImageChunk(name, data));
  }

  private emit(bytes: Uint8Array): void {
    if (!bytes.length) return;
    this.write(bytes);
    this.bytesWritten += bytes.length;
  }

  /** Start digests on the machine (at icount 0 and every interval after). */
  attach(vm: VirtMachine): void {
    this.vm = vm;
    this.digester = new StateDigester(vm);
    if (this.header.digestInterval > 0) this.nextDigestAt = vm.cpu.icount;
  }

  append(ev: RecordedEvent): void {
    this.encoder.add(ev);
    this.events++;
    if (this.encoder.pending >= CHUNK_BYTES) this.flush();
  }

  /** The machine is at nextDigestAt: log its digest and schedule the next. */
  digestNow(): void {
    const vm = this.vm!;
    this.append({
      type: EventType.Digest,
      icount: vm.cpu.icount,
      arg: 0,
      value: 0,
      data: this.digester!.take(),
    });
    this.nextDigestAt = vm.cpu.icount + this.header.digestInterval;
  }

  /** Write the events waiting as a chunk. */
  flush(): void {
    this.emit(this.encoder.flush());
  }

  /** Write a note (after the events so far): something a replay should be told. */
  note(text: string): void {
    this.flush();
    this.emit(encodeNoteChunk({ icount: this.vm?.cpu.icount ?? 0, text }));
  }

  /** The run is over: a final digest, the end marker, the last chunk. */
  end(exit: GuestExit): void {
    const vm = this.vm!;
    const icount = vm.cpu.icount;
    this.append({ type: EventType.Digest, icount, arg: 1, value: 0, data: this.digester!.take() });
    const kind = END_KINDS.indexOf(exit.kind);
    this.append({
      type: EventType.End,
      icount,
      arg: kind < 0 ? END_KINDS.length - 1 : kind,
      value: exit.status >>> 0,
      data: EMPTY,
    });
    this.flush();
  }
}
