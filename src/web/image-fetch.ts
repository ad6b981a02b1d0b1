/**
 * Images a recording (or a live machine) names but does not carry, fetched
 * from the `vmrs serve` that offered the page: GET images/SHA256, relative
 * to the worker's own address. The caller checks the digest of what comes.
 */
import type { ImageRef } from '../replay/log-format.js';
import { ReplayOpenError, type ImageLoader } from './replay-machine.js';

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

const message = (e: unknown) => (e instanceof Error ? e.message || e.name : String(e));

/** A loader from the server at `base`, caching by digest; `log` hears what is being fetched. */
export function serverImageLoader(base: string, log: (text: string) => void): ImageLoader {
  const cache = new Map<string, Uint8Array>();
  return async (_name: string, ref: ImageRef, what: string) => {
    const cached = cache.get(ref.sha256);
    if (cached) return cached;
    const label = `${what} '${ref.path}' (sha256 ${ref.sha256.slice(0, 16)}…)`;
    log(`fetching ${what} ${ref.path} (${fmtBytes(ref.size)})`);
    let res: Response;
    try {
      res = await fetch(new URL(`images/${ref.sha256}`, base));
    } catch (e) {
      throw new ReplayOpenError(`${label} could not be fetched: ${message(e)}`);
    }
    if (!res.ok) {
      let why = '';
      try {
        why = (await res.text()).trim().slice(0, 300);
      } catch {
        // no body
      }
      throw new ReplayOpenError(
        `${label} is not in the recording and the server does not have it (HTTP ${res.status}${why ? `: ${why}` : ''})`,
      );
    }
    const data = new Uint8Array(await res.arrayBuffer());
    cache.set(ref.sha256, data);
    return data;
  };
}
