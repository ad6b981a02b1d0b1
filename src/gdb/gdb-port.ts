/**
 * The TCP port GDB attaches to, open for as long as the machine or the
 * replay it serves lasts. One debugger at a time: a second connection
 * waits until the first one ends (a third is closed). The connection lifecycle, the same for a live machine
 * and a replay, follows QEMU's gdbstub:
 *
 * - a connection that sends no packet (a port probe, a health check)
 *   changes nothing, whatever the target is doing;
 * - a client's first packet stops the target if it runs by itself, as GDB
 *   expects of a target it attaches to;
 * - `detach` removes the client's breakpoints and watchpoints and lets the
 *   target run on by itself; the port stays open for the next debugger;
 * - `kill` (k, vKill) asks for the end of the machine or replay;
 * - a client that goes away otherwise (GDB's `disconnect`, a crash, a lost
 *   connection) leaves the target stopped where it is, for the next one.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { GdbStub, type ClientEnd } from './gdb-server.js';
import type { DebugTarget } from './replay-target.js';

export interface GdbPortHooks {
  log(s: string): void;
  /** A debugger is about to talk to the target: stop it if it runs by itself. */
  hold(): void;
  /** The debugger detached: the target runs on by itself. */
  release(): void;
  /** The debugger asked to kill the target. */
  kill(): void;
  /** A debugger went away without detaching; the target stays stopped. */
  gone(): void;
}

export class GdbPortError extends Error {}

export class GdbPort {
  private client: Socket | undefined;
  private waiting: Socket | undefined;
  private closed = false;
  private server: Server | undefined;
  /** The port listened on (the one the system chose, for port 0). */
  port = 0;

  private constructor(
    private readonly target: DebugTarget,
    private readonly hooks: GdbPortHooks,
  ) {}

  /** Listen on host:port; a port that cannot be had is a GdbPortError. */
  static open(
    target: DebugTarget,
    port: number,
    host: string,
    hooks: GdbPortHooks,
  ): Promise<GdbPort> {
    const gdbPort = new GdbPort(target, hooks);
    const server = createServer((sock) => gdbPort.accept(sock));
    gdbPort.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e) =>
        reject(new GdbPortError(`cannot listen on ${host}:${port} for GDB: ${e.message}`)),
      );
      server.listen(port, host, () => {
        server.on('error', (e) => hooks.log(`GDB port: ${e.message}`));
        const a = server.address();
        gdbPort.port = typeof a === 'object' && a ? a.port : port;
        resolve(gdbPort);
      });
    });
  }

  private accept(sock: Socket): void {
    if (this.closed || (this.client && this.waiting)) {
      sock.destroy();
      return;
    }
    if (this.client) {
      // Served when the current client ends (what it sends meanwhile waits in the socket).
      this.waiting = sock;
      sock.once('close', () => {
        if (this.waiting === sock) this.waiting = undefined;
      });
      return;
    }
    this.client = sock;
    let talked = false;
    const stub = new GdbStub(this.target, this.hooks.log, () => {
      talked = true;
      this.hooks.hold();
    });
    stub.attach(sock, (end: ClientEnd) => {
      this.client = undefined;
      if (this.closed) return;
      if (talked) this.ended(end);
      const next = this.waiting;
      this.waiting = undefined;
      if (next && !next.destroyed) this.accept(next);
    });
  }

  /** A client that talked to the target is gone. */
  private ended(end: ClientEnd): void {
    // The next debugger starts with none of this one's breakpoints and watchpoints.
    this.target.vm.cpu.setBreakpoints([]);
    this.target.vm.cpu.setWatchpoints([]);
    if (end === 'detach') this.hooks.release();
    else if (end === 'kill') this.hooks.kill();
    else this.hooks.gone();
  }

  /** Stop listening and drop the clients, if any. */
  close(): Promise<void> {
    this.closed = true;
    this.client?.destroy();
    this.waiting?.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** Whether every address `host` names is a loopback address (127/8, ::1). */
export async function isLoopback(host: string): Promise<boolean> {
  let addrs: string[];
  if (isIP(host)) addrs = [host];
  else {
    try {
      addrs = (await lookup(host, { all: true })).map((a) => a.address);
    } catch {
      return false;
    }
  }
  return (
    addrs.length > 0 && addrs.every((a) => /^127\./.test(a) || /^(::1|::ffff:127\..*)$/i.test(a))
  );
}
