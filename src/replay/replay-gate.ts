/**
 * The gate in replay mode: the only host input a device asks for while the
 * guest runs (entropy) comes from the log, in order, at the icount it was
 * recorded at. A request the log does not match is a divergence: it is
 * noted (with zeros given to the guest) and the replayer stops, rather than
 * throwing out of the middle of an instruction.
 */
import type { EntropySource } from '../devices/virtio/backends.js';
import type { VirtMachine } from '../machine/virt.js';
import { EventType, EVENT_NAMES } from './events.js';
import type { EventCursor, EventLog } from './event-log.js';

export class ReplayGate implements EntropySource {
  /** At the next pull event not yet handed out. */
  readonly cursor: EventCursor;
  divergence: string | undefined;
  private vm: VirtMachine | undefined;

  constructor(events: EventLog) {
    this.cursor = events.cursor();
    this.cursor.toPull();
  }

  attach(vm: VirtMachine): void {
    this.vm = vm;
  }

  fill(dest: Uint8Array): void {
    const icount = this.vm!.cpu.icount;
    const ev = this.cursor.peek();
    if (
      !ev ||
      ev.type !== EventType.Entropy ||
      ev.icount !== icount ||
      ev.data.length !== dest.length
    ) {
      dest.fill(0);
      this.divergence ??= ev
        ? `the guest asked for ${dest.length} bytes of entropy at icount ${icount}; the recording has ${EVENT_NAMES[ev.type]} of ${ev.data.length} bytes at icount ${ev.icount}`
        : `the guest asked for entropy at icount ${icount}, beyond the recorded requests`;
      return;
    }
    dest.set(ev.data);
    this.cursor.advance();
    this.cursor.toPull();
  }
}
