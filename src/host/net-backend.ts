/**
 * Host network backends for virtio-net: passt (`--net user`) and a UNIX
 * socket wire between two VMs (`--net socket`). Frames from the host go to
 * `onFrame` — the caller passes them through the gate — and link changes to
 * `onLink`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { chownSync, existsSync, lstatSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameSink } from '../devices/virtio/backends.js';
import { FramedStream, type LinkStats } from './net-stream.js';
import { NetBackendError, type HostForward, type NetSpec } from './net-options.js';

export interface NetBackend extends FrameSink {
  readonly linkUp: boolean;
  stats(): LinkStats;
  close(): Promise<void>;
}

export interface NetCallbacks {
  onFrame(frame: Uint8Array): void;
  onLink(up: boolean): void;
  log?(s: string): void;
}

export function openNetBackend(spec: NetSpec, cb: NetCallbacks): Promise<NetBackend> {
  if (spec.kind === 'user') return startPasst(spec.hostfwd, cb);
  return spec.mode === 'listen' ? listenWire(spec.path, cb) : connectWire(spec.path, cb);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Connect, retrying while the peer starts (up to `ms`). */
async function connectRetry(
  path: string,
  ms: number,
  alive: () => string | undefined,
): Promise<Socket> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await connectOnce(path);
    } catch (e) {
      const dead = alive();
      if (dead) throw new NetBackendError(dead);
      if (Date.now() > until)
        throw new NetBackendError(
          `cannot connect to ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`,
        );
      await sleep(50);
    }
  }
}

/** The PATH lookup passt needs; a clear install hint when it isn't there. */
export function findPasst(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'passt'))) return join(dir, 'passt');
  }
  throw new NetBackendError('passt is not installed; install it with: sudo apt-get install passt');
}

class StreamBackend implements NetBackend {
  stream: FramedStream | undefined;
  private readonly total: LinkStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: 0,
  };
  droppedUnplugged = 0;
  onClose: (() => Promise<void>) | undefined;

  constructor(private readonly cb: NetCallbacks) {}

  get linkUp(): boolean {
    return this.stream?.open ?? false;
  }

  plug(socket: Socket, onUnplug?: () => void): void {
    this.stream = new FramedStream(
      socket,
      (f) => this.cb.onFrame(f),
      (err) => {
        if (err) this.cb.log?.(`network: ${err}`);
        this.fold();
        this.stream = undefined;
        this.cb.onLink(false);
        onUnplug?.();
      },
    );
    this.cb.onLink(true);
  }

  private fold(): void {
    const s = this.stream?.stats;
    if (!s) return;
    for (const k of Object.keys(s) as (keyof LinkStats)[]) this.total[k] += s[k];
  }

  send(frame: Uint8Array): void {
    if (this.stream) this.stream.send(frame);
    else this.droppedUnplugged++;
  }

  stats(): LinkStats {
    const s = { ...this.total };
    if (this.stream)
      for (const k of Object.keys(s) as (keyof LinkStats)[]) s[k] += this.stream.stats[k];
    s.dropped += this.droppedUnplugged;
    return s;
  }

  async close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    s?.close();
    await this.onClose?.();
  }
}

/**
 * Runs passt ("$0" "$@") and stops it when our end of its stdin closes or
 * the shell is told to stop; exits with passt's status. Standard input of
 * a background job is /dev/null, so the watcher reads the pipe through fd 3.
 */
const PASST_WATCHDOG = [
  'exec 3<&0',
  '"$0" "$@" </dev/null & p=$!',
  "trap 'kill $p 2>/dev/null' TERM INT HUP",
  '(while read -r _ <&3; do :; done; kill $p 2>/dev/null) & w=$!',
  // A trapped signal interrupts wait: wait again until passt has ended.
  'while :; do wait $p; s=$?; kill -0 $p 2>/dev/null || break; done',
  'kill $w 2>/dev/null',
  // Its socket's folder too, which vmrs removes itself unless it was killed.
  'rm -rf "$VMRS_PASST_DIR"',
  'exit $s',
].join('\n');

async function startPasst(fwd: HostForward[], cb: NetCallbacks): Promise<NetBackend> {
  const passt = findPasst();
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-passt-'));
  const sock = join(dir, 'passt.socket');
  // Started as root, passt becomes 'nobody' before it binds its socket: let it into the directory.
  if (process.getuid?.() === 0) chownSync(dir, 65534, 65534);
  const tcp = fwd.filter((f) => f.proto === 'tcp');
  const udp = fwd.filter((f) => f.proto === 'udp');
  const spec = (fs: typeof fwd) =>
    fs.length
      ? fs.map((f) => `${f.hostAddr ? `${f.hostAddr}/` : ''}${f.hostPort}:${f.guestPort}`).join(',')
      : 'none';
  // -f: stay in the foreground so we own its lifetime. (-1/--one-off quits at once in
  // Debian bookworm's passt, so we stop it ourselves.) -m: our virtio-net has no mergeable
  // receive buffers, so frames must fit a 1500-byte MTU.
  const args = ['-f', '-q', '-s', sock, '-m', '1500', '-t', spec(tcp), '-u', spec(udp)];
  // passt outlives a vmrs that is killed (SIGKILL, OOM): nothing tells it its
  // client is gone. So it runs under a small shell that holds the read end of a
  // pipe whose write end only vmrs has; when vmrs ends, however it ends, the
  // pipe closes and the shell stops passt.
  const child: ChildProcess = spawn('/bin/sh', ['-c', PASST_WATCHDOG, passt, ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, VMRS_PASST_DIR: dir },
  });
  child.stdin!.on('error', () => {}); // the shell gone first: nothing to stop
  let stderr = '';
  let exited: string | undefined;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code, sig) => (exited = `passt exited (${sig ?? code}): ${lastLines(stderr)}`));
  child.on('error', (e) => (exited = `cannot start passt: ${e.message}`));
  const kill = () => child.exitCode === null && child.kill('SIGKILL');
  process.on('exit', kill);
  const cleanup = async () => {
    process.off('exit', kill);
    if (child.exitCode === null && child.signalCode === null) {
      // The end of the pipe stops passt; the shell then exits.
      child.stdin!.end();
      const t = setTimeout(kill, 2000);
      await new Promise<void>((r) =>
        child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
      );
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const backend = new StreamBackend(cb);
  backend.onClose = cleanup;
  try {
    const socket = await connectRetry(sock, 5000, () => exited);
    backend.plug(socket);
  } catch (e) {
    await cleanup();
    throw e;
  }
  cb.log?.(
    `network: passt${fwd.length ? `, forwarding ${fwd.map((f) => `${f.proto} ${f.hostPort}->${f.guestPort}`).join(', ')}` : ''}`,
  );
  return backend;
}

function lastLines(s: string): string {
  return (
    s
      .split('\n')
      .filter((l) => l && !l.includes('syslog'))
      .slice(-3)
      .join(' / ') || 'no message'
  );
}

async function connectWire(path: string, cb: NetCallbacks, retryMs = 5000): Promise<NetBackend> {
  const backend = new StreamBackend(cb);
  backend.plug(await connectRetry(path, retryMs, () => undefined));
  return backend;
}

async function listenWire(path: string, cb: NetCallbacks): Promise<NetBackend> {
  if (existsSync(path)) {
    // A socket left by a dead VM may be replaced; a live one or another file may not.
    if (!lstatSync(path).isSocket())
      throw new NetBackendError(`${path} exists and is not a socket`);
    const live = await connectOnce(path).then(
      (s) => (s.destroy(), true),
      () => false,
    );
    if (live) throw new NetBackendError(`another VM is already listening on ${path}`);
    unlinkSync(path);
  }
  const backend = new StreamBackend(cb);
  const server: Server = createServer((socket) => {
    if (backend.linkUp) {
      socket.destroy(); // one cable, one peer
      return;
    }
    backend.plug(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new NetBackendError(`cannot listen on ${path}: ${e.message}`)),
    );
    server.listen(path, () => resolve());
  });
  cb.log?.(`network: waiting for a peer on ${path}`);
  backend.onClose = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    });
  return backend;
}
