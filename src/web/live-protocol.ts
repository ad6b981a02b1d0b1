/** The messages between the page (app.ts) and the live machine's worker (live-worker.ts). */
import type { GuestOffer } from './guest-offer.js';
import type { ReplayState } from './protocol.js';
import type { Engine } from '../cpu/cpu.js';

export type ToLiveWorker =
  /**
   * Boot the offered guest and record it; `embed` carries its images in the
   * recording. `local`: images the person chose from their disk, by name
   * ('bios', 'kernel', 'initrd'), which the offer names by digest; they are
   * carried in the recording whatever `embed` says (no server has them).
   */
  | {
      kind: 'boot';
      offer: GuestOffer;
      embed: boolean;
      engine?: Engine;
      local?: Record<string, ArrayBuffer>;
    }
  /** Bytes typed into the terminal, for the guest's console. */
  | { kind: 'input'; bytes: Uint8Array }
  /** Stop the machine (as Ctrl-A X): the recording ends here, whole. */
  | { kind: 'stop' };

export interface LiveStatus {
  kind: 'status';
  /** loading (fetching images, building), running, done (recording complete), error. */
  state: ReplayState;
  icount: number;
  /** Speed over the last second or so (0 when not running). */
  mips: number;
  /** Events and state digests recorded, and the recording's bytes so far. */
  events: number;
  digests: number;
  bytes: number;
  error?: string;
  /** How the guest ended: poweroff, stopped (by the page), ... and its status. */
  exit?: { kind: string; status: number };
  /** Milliseconds from boot to the machine's first instruction (images fetched, checked, built). */
  bootMs?: number;
}

export type FromLiveWorker =
  | { kind: 'console'; bytes: Uint8Array }
  | LiveStatus
  /** The finished recording (also after an internal error: it then ends where the machine stopped). */
  | { kind: 'recording'; name: string; bytes: Uint8Array }
  | { kind: 'log'; text: string };
