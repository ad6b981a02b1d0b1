/**
 * What a virtio device type (blk, net, rng, console) provides to the MMIO
 * transport, and what the transport offers it back. Device types know
 * nothing of registers; the transport knows nothing of disks or frames.
 */
import type { GuestRam } from './guest-ram.js';
import type { SplitVirtqueue } from './virtqueue.js';
import type { SaveOptions, State } from '../../snapshot/state.js';

/** Feature bits common to all devices (virtio 1.2 §6). */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

export interface VirtioDeviceModel {
  /** Device type (virtio 1.2 §5): 1 net, 2 blk, 3 console, 4 rng. */
  readonly deviceId: number;
  readonly name: string;
  /** Device-specific feature bits offered (bit n of the 64-bit feature word at index n). */
  readonly features: readonly number[];
  /** Maximum size of each virtqueue, by queue index. */
  readonly queueSizes: readonly number[];
  /** Device configuration space (little-endian fields), read by the driver at 0x100+. */
  readonly config: Uint8Array;
  /** Called once when the transport is built. */
  attach(host: VirtioHost): void;
  /** Driver wrote configuration space bytes [offset, offset+width). */
  configWritten?(offset: number, width: number): void;
  /** The device was reset (status 0 written, or at start): drop in-flight work. */
  reset(): void;
  /** Driver set DRIVER_OK. */
  activated?(): void;
  /** Driver notified queue `q` (the queue exists and is ready). May throw VirtqueueError or DmaError. */
  notify(q: number): void;
  /** Earliest virtual tick at which the device has work due (Infinity when none). */
  nextDeadline(): number;
  /** Virtual time reached `now`: complete what is due. May throw like notify. */
  update(now: number): void;
  /** The device's state beyond its queues (in-flight work, held input, its backend's writes). */
  saveState(opts?: SaveOptions): State;
  loadState(s: State): void;
}

/** The transport's side, as a device type sees it. */
export interface VirtioHost {
  readonly ram: GuestRam;
  queue(q: number): SplitVirtqueue;
  /** Current virtual time (mtime ticks). */
  now(): number;
  /** Status has DRIVER_OK and not DEVICE_NEEDS_RESET. */
  live(): boolean;
  /** Was feature bit `bit` negotiated? */
  negotiated(bit: number): boolean;
  /** Requests were returned on queue `q`: interrupt the driver unless it suppressed it. */
  returned(q: number): void;
  /** Configuration space changed (§4.2.3.4... config change notification). */
  configChanged(): void;
  /** The device can't go on: set DEVICE_NEEDS_RESET (§2.1.2). */
  fail(reason: string): void;
  /**
   * Run a host-side entry into the device (input, link change) under the
   * guard that guest notifies run under: a VirtqueueError or DmaError from
   * the guest's rings sets DEVICE_NEEDS_RESET instead of reaching the host.
   */
  guard(action: () => void): void;
}
