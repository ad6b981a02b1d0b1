/**
 * Run a function as a new task of the host's event loop, soon, so that
 * messages, input and timers get in between two slices of guest work:
 * `setImmediate` on Node; a MessageChannel in a browser or worker, where
 * `setTimeout(f, 0)` is clamped to 4 ms once nested (HTML spec, timers).
 */
type Immediate = (f: () => void) => unknown;
/** As much of a MessageChannel as is used (the type is DOM's, this file builds for Node too). */
interface Channel {
  port1: { onmessage: ((e: unknown) => void) | null };
  port2: { postMessage(message: null): void };
}

const host = globalThis as unknown as {
  setImmediate?: Immediate;
  MessageChannel?: new () => Channel;
};
const immediate = host.setImmediate;

const queued: (() => void)[] = [];
let channel: Channel | undefined;

export function nextTask(f: () => void): void {
  if (immediate) {
    immediate(f);
    return;
  }
  if (!channel) {
    channel = new host.MessageChannel!();
    channel.port1.onmessage = () => {
      const f = queued.shift();
      f?.();
    };
  }
  queued.push(f);
  channel.port2.postMessage(null);
}

/** nextTask as a promise. */
export const breathe = (): Promise<void> => new Promise((r) => nextTask(r));
