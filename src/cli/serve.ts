/**
 * `vmrs serve [RECORDING...]`: the browser app (dist/web, `npm run build`),
 * the recordings named, and the images they were recorded with, over HTTP
 * on loopback by default. The page replays in a Web Worker with the same
 * core and engine as Node (src/web/).
 *
 *   GET /                      the app (index.html, app.js, replay-worker.js, styles)
 *   GET /api/recordings        [{ name, size }] of the recordings served
 *   GET /api/guest             the guest the page may boot as a live machine (GuestOffer)
 *   GET /recordings/NAME       a recording's bytes
 *   GET /images/SHA256         an image (firmware, kernel, initrd, disk) with that digest
 *
 * Only what is named is served: recordings by their names, images by the
 * digests the recordings (and the default guest and firmware) give, each
 * checked against its file before it is offered, and the app's own files.
 * Nothing else on the disk can be reached. Pages get a Content Security
 * Policy that allows WebAssembly compiles and nothing dynamic else: the
 * engine needs no `eval`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRecordingFile } from './open-replay.js';
import { parseGuestMemorySize, UsageError } from './options.js';
import { imageDigest } from '../host/digest-cache.js';
import { bytesDigest } from '../host/file-digest.js';
import {
  defaultRecipeDir,
  ensureDefaultGuest,
  findCachedGuest,
  type DefaultGuest,
} from '../host/default-guest.js';
import { findFirmware } from '../host/firmware.js';
import type { GuestOffer } from '../web/guest-offer.js';
import { DEFAULT_APPEND, DEFAULT_INSNS_PER_TICK, DEFAULT_MEMORY } from './run.js';
import { isLoopback } from '../gdb/gdb-port.js';
import type { ImageRef } from '../replay/log-format.js';

export interface ServeOptions {
  port: string;
  host: string;
  /** Build the default guest if it is not (for the page's live machine). */
  live?: boolean;
  quiet?: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The app's files: dist/web beside this module (compiled, or bundled into dist/bundle). */
export function webRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../web', '../web', 'web']) {
    const d = resolve(here, up);
    if (existsSync(join(d, 'index.html')) && existsSync(join(d, 'app.js'))) return d;
  }
  throw new UsageError('the web app is not built: run `npm run build` in the vmrs directory');
}

interface Served {
  name: string;
  path: string;
  size: number;
}

/** Images a recording refers to by path (embedded ones travel inside it). */
function imageRefs(file: string): ImageRef[] {
  const rec = readRecordingFile(file);
  try {
    const h = rec.header;
    const refs: (ImageRef | undefined)[] = [
      h.bios === 'none' ? undefined : h.bios,
      h.kernel,
      h.initrd,
      h.snapshot,
      ...h.devices.map((d) => (d.kind === 'blk' ? d.disk : undefined)),
    ];
    return refs.filter((r): r is ImageRef => r !== undefined && !r.embedded);
  } finally {
    rec.source.close?.();
  }
}

export async function serveCommand(files: string[], opts: ServeOptions): Promise<number> {
  const port = Number(opts.port);
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--port must be a port number (0: any free one)');
  const log = (s: string) => !opts.quiet && process.stderr.write(`[vmrs] ${s}\n`);
  const root = webRoot();

  // Recordings by name (a second file of the same name gets a suffix).
  const recordings = new Map<string, Served>();
  const images = new Map<string, string>(); // sha256 -> path, checked
  const offerImage = (ref: { path: string; sha256: string }, what: string): void => {
    if (images.has(ref.sha256)) return;
    if (!existsSync(ref.path)) {
      log(`${what} '${ref.path}' is not there: not offered`);
      return;
    }
    const d = imageDigest(ref.path);
    if (d !== ref.sha256) {
      log(`${what} '${ref.path}' is not the one recorded (its digest differs): not offered`);
      return;
    }
    images.set(d, ref.path);
  };
  for (const file of files) {
    const refs = imageRefs(file); // a missing or unreadable recording is a UsageError here
    let name = basename(file);
    for (let k = 2; recordings.has(name); k++) name = `${basename(file, '.vmrs')}-${k}.vmrs`;
    recordings.set(name, { name, path: resolve(file), size: statSync(file).size });
    for (const r of refs) offerImage(r, `an image of ${name}`);
  }
  // The default guest's images too, when built (or built now, with --live): a recording
  // opened from disk in the page may need them, and the page boots it as a live machine.
  let guest: DefaultGuest | undefined;
  try {
    guest = opts.live ? await ensureDefaultGuest({ log }) : findCachedGuest(defaultRecipeDir());
  } catch (e) {
    if (opts.live) throw e;
  }
  let firmware: string | undefined;
  try {
    firmware = findFirmware('fw_dynamic');
  } catch {
    // no OpenSBI: recordings that name it cannot be offered their firmware, and no live machine
  }
  const refOf = (path: string): ImageRef => {
    const sha256 = imageDigest(path);
    images.set(sha256, path);
    return { path, size: statSync(path).size, sha256, embedded: false };
  };
  let offer: GuestOffer | undefined;
  if (guest && firmware)
    offer = {
      name: 'the default guest',
      machine: {
        // `vmrs record`'s defaults.
        memoryBytes: parseGuestMemorySize(DEFAULT_MEMORY),
        append: `${DEFAULT_APPEND} quiet`,
        insnsPerTick: Number(DEFAULT_INSNS_PER_TICK),
        consoleOn: 'uart',
      },
      bios: refOf(firmware),
      kernel: refOf(guest.kernel),
      initrd: refOf(guest.initrd),
    };
  else if (firmware) refOf(firmware);
  if (!offer)
    log(
      guest
        ? 'no OpenSBI firmware: the page offers no live machine'
        : 'the default guest is not built: the page offers no live machine (vmrs serve --live builds it)',
    );

  const send = (res: ServerResponse, status: number, type: string, body: Uint8Array | string) => {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy':
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' https: http:",
    });
    res.end(body);
  };
  const sendFile = (res: ServerResponse, path: string, type: string) => {
    let body: Buffer;
    try {
      body = readFileSync(path);
    } catch (e) {
      return send(res, 500, 'text/plain', `cannot read ${basename(path)}: ${(e as Error).message}`);
    }
    send(res, 200, type, body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain', 'only GET');
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(res, 400, 'text/plain', 'bad URL');
    }
    if (path === '/api/recordings')
      return send(
        res,
        200,
        'application/json',
        JSON.stringify([...recordings.values()].map(({ name, size }) => ({ name, size }))),
      );
    if (path === '/api/guest')
      return offer
        ? send(res, 200, 'application/json', JSON.stringify(offer))
        : send(res, 404, 'text/plain', 'this vmrs serve offers no guest to boot');
    if (path.startsWith('/recordings/')) {
      const r = recordings.get(path.slice('/recordings/'.length));
      if (!r) return send(res, 404, 'text/plain', 'no recording of that name is served here');
      return sendFile(res, r.path, 'application/octet-stream');
    }
    if (path.startsWith('/images/')) {
      const file = images.get(path.slice('/images/'.length));
      if (!file)
        return send(
          res,
          404,
          'text/plain',
          'no image with that sha256 is offered by this vmrs serve',
        );
      // Checked when offered; checked again now (a file replaced since would replay wrong).
      const body = readFileSync(file);
      if (bytesDigest(body) !== path.slice('/images/'.length))
        return send(res, 409, 'text/plain', `${file} has changed since vmrs serve started`);
      return send(res, 200, 'application/octet-stream', body);
    }
    const name = path === '/' ? 'index.html' : path.slice(1);
    // The app's own files only: a plain name in dist/web, no directories.
    if (!/^[\w.-]+$/.test(name) || !TYPES[extname(name)] || !existsSync(join(root, name)))
      return send(res, 404, 'text/plain', 'not found');
    sendFile(res, join(root, name), TYPES[extname(name)]);
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      if (!res.headersSent) send(res, 500, 'text/plain', (e as Error).message);
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(new UsageError(`cannot listen on ${opts.host}:${port}: ${e.message}`)),
    );
    server.listen(port, opts.host, ok);
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${bound}/`;
  if (!(await isLoopback(opts.host)))
    process.stderr.write(
      `vmrs: warning: --host ${opts.host} is not a loopback address: anyone who can reach port ${bound} can read the recordings and images served\n`,
    );
  // One write: a reader of the pipe (a test, a script) gets the address and the list together.
  const lines = [`vmrs serve: ${url}`];
  for (const r of recordings.values()) lines.push(`  ${url}?replay=${encodeURIComponent(r.name)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  log(`${recordings.size} recording(s), ${images.size} image(s) offered; Ctrl-C stops`);
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  return 0;
}
