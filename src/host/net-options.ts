/**
 * `--net` specifications:
 *   user[,hostfwd=tcp::HOSTPORT-:GUESTPORT][,hostfwd=udp::H-:G]…[,mac=M]   (passt)
 *   socket,listen=PATH[,mac=M] | socket,connect=PATH[,mac=M]              (VM to VM)
 */
export class NetBackendError extends Error {}

export interface HostForward {
  proto: 'tcp' | 'udp';
  hostAddr?: string;
  hostPort: number;
  guestPort: number;
}

export type NetSpec =
  | { kind: 'user'; hostfwd: HostForward[]; mac?: Uint8Array }
  | { kind: 'socket'; mode: 'listen' | 'connect'; path: string; mac?: Uint8Array };

function port(s: string, what: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535)
    throw new NetBackendError(`--net: bad ${what} '${s}'`);
  return n;
}

export function parseMac(s: string): Uint8Array {
  const m =
    /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(
      s,
    );
  if (!m)
    throw new NetBackendError(
      `--net: bad mac '${s}': expected six hex bytes like 52:54:00:12:34:56`,
    );
  const mac = Uint8Array.from(m.slice(1), (h) => parseInt(h, 16));
  if (mac[0] & 1) throw new NetBackendError(`--net: mac '${s}' is a multicast address`);
  return mac;
}

function parseHostfwd(v: string): HostForward {
  // QEMU syntax: tcp:[hostaddr]:hostport-[guestaddr]:guestport
  const m = /^(tcp|udp):([^:]*):(\d+)-[^:]*:(\d+)$/.exec(v);
  if (!m) throw new NetBackendError(`--net: bad hostfwd '${v}': expected tcp::HOSTPORT-:GUESTPORT`);
  return {
    proto: m[1] as 'tcp' | 'udp',
    hostAddr: m[2] || undefined,
    hostPort: port(m[3], 'host port'),
    guestPort: port(m[4], 'guest port'),
  };
}

/**
 * A UNIX socket's path must fit sockaddr_un's sun_path (108 bytes on Linux);
 * a longer one is cut short silently, leaving a socket under another name
 * that nothing removes.
 */
export const MAX_SOCKET_PATH = 108;

function socketPath(path: string): string {
  const n = new TextEncoder().encode(path).length;
  if (n > MAX_SOCKET_PATH)
    throw new NetBackendError(
      `--net socket: the path '${path}' is ${n} bytes long; a UNIX socket's path may have at most ${MAX_SOCKET_PATH}`,
    );
  return path;
}

export function parseNetOption(spec: string): NetSpec {
  const [kind, ...parts] = spec.split(',');
  let mac: Uint8Array | undefined;
  const hostfwd: HostForward[] = [];
  let listen: string | undefined;
  let connect: string | undefined;
  for (const p of parts) {
    const eq = p.indexOf('=');
    const k = eq < 0 ? p : p.slice(0, eq);
    const v = eq < 0 ? '' : p.slice(eq + 1);
    if (k === 'mac') mac = parseMac(v);
    else if (k === 'hostfwd' && kind === 'user') hostfwd.push(parseHostfwd(v));
    else if (k === 'listen' && kind === 'socket' && v) listen = socketPath(v);
    else if (k === 'connect' && kind === 'socket' && v) connect = socketPath(v);
    else throw new NetBackendError(`--net ${kind}: unknown or bad option '${p}'`);
  }
  if (kind === 'user') return { kind, hostfwd, mac };
  if (kind === 'socket') {
    if (!listen === !connect)
      throw new NetBackendError('--net socket needs exactly one of listen=PATH or connect=PATH');
    return listen
      ? { kind, mode: 'listen', path: listen, mac }
      : { kind, mode: 'connect', path: connect!, mac };
  }
  throw new NetBackendError(`--net: unknown backend '${kind}' (use user or socket)`);
}
