/**
 * The events of a recording: every host input that entered the guest, with
 * the instruction count (icount) at which it did (DESIGN rules 1 and 3).
 *
 * "Push" events are applied by the replayer when the guest reaches their
 * icount; "pull" events (entropy, disk errors) are asked for by a device
 * while the guest runs, and replay hands them out in order, checking the
 * icount.
 */
export const enum EventType {
  /** Bytes for the UART (ttyS0). */
  Console = 1,
  /** Bytes for the virtio console (hvc0). */
  Hvc = 2,
  /** A network frame for NIC `arg`. */
  NetFrame = 3,
  /** NIC `arg`'s link went up (value 1) or down (0). */
  NetLink = 4,
  /** Entropy a device asked for (pull). */
  Entropy = 5,
  /** Idle jump: virtual time set forward to `value` ticks while the guest waited. */
  IdleJump = 6,
  /** State digest at this icount (checked, not applied). */
  Digest = 7,
  /** End of the recording: the guest exited with status `value` (kind in `arg`), or was stopped. */
  End = 8,
  /**
   * A host disk error (pull, format version 2): disk `arg`'s store call
   * number `value` at this icount failed. data: the operation (DiskOp), flags
   * (bit 0: the call may have changed the disk, so the recording stopped
   * after it), then the host's message in UTF-8.
   */
  DiskError = 9,
}

export const EVENT_NAMES: Record<number, string> = {
  1: 'console',
  2: 'hvc',
  3: 'net-frame',
  4: 'net-link',
  5: 'entropy',
  6: 'idle-jump',
  7: 'digest',
  8: 'end',
  9: 'disk-error',
};

export interface RecordedEvent {
  type: EventType;
  icount: number;
  /** Small integer argument: NIC index, end kind. */
  arg: number;
  /** Numeric value: time target, link state, exit status. */
  value: number;
  /** Payload bytes: console input, frame, entropy, digest. */
  data: Uint8Array;
}

export const EMPTY = new Uint8Array(0);

export function isPull(type: EventType): boolean {
  return type === EventType.Entropy || type === EventType.DiskError;
}

/** End kinds (RecordedEvent.arg of End). */
export const END_KINDS = ['poweroff', 'fail', 'reset', 'htif', 'stopped'] as const;
export type EndKind = (typeof END_KINDS)[number];
