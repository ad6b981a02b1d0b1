/** Host-side things guest tests and benches need: disk images, passt, host servers. */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { findPasst } from '../../src/host/net-backend.js';

/** An ext2 disk image of `mib` MiB at `path`. */
export function makeExt2(path: string, mib: number): string {
  execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=1M', `count=${mib}`], { stdio: 'ignore' });
  execFileSync('mke2fs', ['-q', '-t', 'ext2', '-F', path], { stdio: 'ignore' });
  return path;
}

export function hasPasst(): boolean {
  try {
    findPasst();
    return true;
  } catch {
    return false;
  }
}

/** A TCP port on the host's loopback that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An HTTP server on the host's loopback answering every request with `body`. */
export async function servePayload(
  body: Uint8Array | string,
): Promise<{ port: number; close: () => void }> {
  const server = createServer((_, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** The URL of host port `port` as a guest behind passt reaches it (through its gateway). */
export const hostUrlFromGuest = (port: number): string =>
  `http://$(ip route | awk '/default/ {print $3}'):${port}/`;
