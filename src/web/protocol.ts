/** The messages between the page (app.ts) and the replay worker (replay-worker.ts). */

export type ReplayState = 'idle' | 'loading' | 'running' | 'paused' | 'done' | 'diverged' | 'error';

export type ToWorker =
  /** Open a recording (and start playing it unless `play` is false). */
  | { kind: 'open'; name: string; recording: ArrayBuffer; play?: boolean }
  | { kind: 'play' }
  | { kind: 'pause' }
  /** Instructions per second, in millions; null: as fast as it goes. */
  | { kind: 'speed'; mipsLimit: number | null }
  /** Go to `icount` (answered by 'seeked' once there, paused); `id` is echoed. */
  | { kind: 'seek'; icount: number; id?: number };

export interface Divergence {
  icount: number;
  pc: string;
  reason: string;
  details: string[];
}

export interface WorkerStatus {
  kind: 'status';
  state: ReplayState;
  /** The recording's name as opened. */
  name: string;
  icount: number;
  /** The icount of the recording's last event (0 before one is open). */
  lastIcount: number;
  digestsVerified: number;
  /** Replay speed over the last second or so (0 when not running). */
  mips: number;
  /** Average speed of the replay so far (time spent replaying forwards, not seeking). */
  avgMips: number;
  error?: string;
  divergence?: Divergence;
  /** What the recording or the opening said that is worth a look (damage, recorder notes). */
  warnings?: string[];
  /** How the guest ended ('done'): poweroff, reset, ... and its status. */
  exit?: { kind: string; status: number };
  /** Milliseconds the open took (read, images, machine), once open. */
  openMs?: number;
}

export interface Seeked {
  kind: 'seeked';
  icount: number;
  id?: number;
  /** x0..x31, pc, priv and a few CSRs, as hex strings (priv as 'M', 'S' or 'U'). */
  registers: Record<string, string>;
  /** Milliseconds the seek took. */
  ms: number;
  /** Why the replay is not there (it ended, diverged or failed first). */
  error?: string;
}

export type FromWorker =
  | { kind: 'console'; bytes: Uint8Array }
  | WorkerStatus
  | Seeked
  /** A progress line while opening (fetching an image, building the machine). */
  | { kind: 'log'; text: string };
