/**
 * A machine under GDB for as long as it lasts: `vmrs replay --gdb` and
 * `vmrs run --gdb`. Both wait at their first instruction for a debugger;
 * debuggers then come and go on the port (src/gdb/gdb-port.ts: a probe
 * changes nothing, a first packet stops the target, detach lets it run on,
 * a client that just goes leaves it stopped for the next one).
 *
 * - replay: after a detach the replay runs on to its end as a plain replay
 *   does, and vmrs exits with the replay's status; a debugger that attaches
 *   meanwhile stops it again. `kill` or SIGINT/SIGTERM end it at once.
 * - live: after a detach the guest runs on; `kill` stops the machine as
 *   Ctrl-A X does. The session lasts as long as the machine.
 */
import type { VirtMachine } from '../machine/virt.js';
import type { Replayer } from '../replay/replayer.js';
import type { RunLoop } from '../machine/run-loop.js';
import { ReplayTarget, type DebugTarget } from '../gdb/replay-target.js';
import { LiveTarget } from '../gdb/live-target.js';
import { GdbPort, GdbPortError, isLoopback, type GdbPortHooks } from '../gdb/gdb-port.js';
import { UsageError } from './options.js';

/** --gdb PORT as a port number, or a UsageError. */
function portNumber(spec: string): number {
  const port = Number(spec);
  if (!/^\d+$/.test(spec.trim()) || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--gdb needs a TCP port number');
  return port;
}

/** Open the port; say where it is, and warn (even with -q) when it is not loopback-only. */
async function openPort(
  target: DebugTarget,
  spec: string,
  host: string,
  hooks: GdbPortHooks,
  reach: string,
): Promise<GdbPort> {
  let port: GdbPort;
  try {
    port = await GdbPort.open(target, portNumber(spec), host, hooks);
  } catch (e) {
    if (e instanceof GdbPortError) throw new UsageError(e.message);
    throw e;
  }
  if (!(await isLoopback(host)))
    process.stderr.write(
      `vmrs: warning: --gdb-host ${host} is not a loopback address: anyone who can reach port ${port.port} can ${reach} (the GDB protocol has no authentication)\n`,
    );
  hooks.log(
    `waiting for GDB on ${host}:${port.port} at icount ${target.vm.cpu.icount} (gdb-multiarch -ex 'target remote ${host}:${port.port}')`,
  );
  return port;
}

export type SessionEnd = 'killed' | 'signal';

export class ReplayDebugSession {
  /** A debugger holds the replay (or it waits for the first one). */
  private held = true;
  private ended: SessionEnd | undefined;
  private wake: (() => void) | undefined;
  private port: GdbPort | undefined;
  private readonly onSignal = () => this.end('signal');

  private constructor(
    private readonly replayer: Replayer,
    private readonly onClose: () => void,
  ) {}

  /** @param onClose called once the port is closed (the caller flushes console output). */
  static async open(
    vm: VirtMachine,
    replayer: Replayer,
    portSpec: string,
    host: string,
    log: (s: string) => void,
    onClose: () => void = () => {},
  ): Promise<ReplayDebugSession> {
    const session = new ReplayDebugSession(replayer, onClose);
    session.port = await openPort(
      new ReplayTarget(vm, replayer),
      portSpec,
      host,
      {
        log,
        hold: () => {
          session.held = true;
        },
        release: () => {
          log(`GDB detached at icount ${vm.cpu.icount}; the replay runs on to its end`);
          session.held = false;
          session.poke();
        },
        kill: () => {
          log('GDB killed the replay');
          session.end('killed');
        },
        gone: () =>
          log(`GDB went away; the replay waits at icount ${vm.cpu.icount} for a debugger`),
      },
      'attach and read the replayed machine',
    );
    process.on('SIGINT', session.onSignal);
    process.on('SIGTERM', session.onSignal);
    return session;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private end(how: SessionEnd): void {
    this.ended ??= how;
    this.poke();
  }

  /**
   * Wait while a debugger holds the replay; resolves at once when none
   * does. Returns how the session ended, or undefined: replay on.
   */
  async whileHeld(): Promise<SessionEnd | undefined> {
    while (this.held && !this.ended) await new Promise<void>((r) => (this.wake = r));
    if (!this.ended) this.replayer.pauseAt(Infinity); // a debugger may have left a stop point
    return this.ended;
  }

  async close(): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await this.port?.close();
    this.onClose();
  }
}

export class LiveDebugSession {
  private constructor(
    readonly target: LiveTarget,
    private readonly port: GdbPort,
  ) {}

  /** The guest waits (the loop paused) until a debugger lets it go. */
  static async open(
    vm: VirtMachine,
    loop: RunLoop,
    portSpec: string,
    host: string,
    log: (s: string) => void,
  ): Promise<LiveDebugSession> {
    const target = new LiveTarget(vm, loop);
    loop.pause();
    const port = await openPort(
      target,
      portSpec,
      host,
      {
        log,
        hold: () => {
          if (!loop.isPaused) loop.pause();
        },
        release: () => {
          log('GDB detached; the guest runs on');
          loop.resume();
        },
        kill: () => {
          log('GDB killed the machine');
          loop.stop({ kind: 'stopped', status: 0 });
        },
        gone: () =>
          log(`GDB went away; the guest is held at icount ${vm.cpu.icount} for a debugger`),
      },
      'attach, read and change the machine',
    );
    return new LiveDebugSession(target, port);
  }

  close(): Promise<void> {
    return this.port.close();
  }
}
