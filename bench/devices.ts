/**
 * Device throughput on the default guest, in host wall time (guest time is
 * virtual and says nothing about speed):
 *   - virtio-blk: 32 MiB written with dd (fsync) and read back uncached,
 *   - virtio-net through passt: 10 MB downloaded from a host HTTP server.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng } from '../test/helpers/seed.js';
import { PROMPT, fmt, runVmrs } from './cli-session.js';
import { hasPasst, hostUrlFromGuest, servePayload } from '../test/helpers/host-tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-bench-dev-'));

async function disk(): Promise<void> {
  const img = join(dir, 'disk.raw');
  execFileSync('truncate', ['-s', '64M', img]);
  const MiB = 32;
  const r = await runVmrs(
    ['run', '-q', '--drive', `file=${img}`],
    [
      {
        waitFor: PROMPT,
        send: `dd if=/dev/zero of=/dev/vda bs=1M count=${MiB} conv=fsync 2>/dev/null; echo W-$((1+1))\n`,
        mark: 'w0',
      },
      { waitFor: /W-2/, mark: 'w1' },
      {
        waitFor: PROMPT,
        send: `echo 3 > /proc/sys/vm/drop_caches; echo R-$((1+1))\n`,
      },
      { waitFor: /R-2/ },
      {
        waitFor: PROMPT,
        send: `dd if=/dev/vda of=/dev/null bs=1M count=${MiB} 2>/dev/null; echo D-$((1+1))\n`,
        mark: 'r0',
      },
      { waitFor: /D-2/, mark: 'r1' },
      { waitFor: PROMPT, send: 'poweroff -f\n' },
    ],
  );
  if (r.status !== 0) throw new Error(`disk bench failed: ${r.stderr}`);
  const m = r.marks;
  console.log(
    `disk    dd write ${MiB} MiB (fsync): ${fmt(MiB / (m.w1 - m.w0), 2)} MiB/s; dd read ${MiB} MiB uncached: ${fmt(MiB / (m.r1 - m.r0), 2)} MiB/s (host wall time)`,
  );
}

async function download(): Promise<void> {
  if (!hasPasst()) {
    console.log('net     passt not installed: download skipped');
    return;
  }
  const server = await servePayload(prng('bench devices payload').bytes(10 << 20));
  const port = server.port;
  try {
    const r = await runVmrs(
      ['run', '-q', '--net', 'user'],
      [
        {
          waitFor: PROMPT,
          send: `wget -q -O /dev/null ${hostUrlFromGuest(port)}; echo N-$((1+1))\n`,
          mark: 's',
        },
        { waitFor: /N-2/, mark: 'e' },
        { waitFor: PROMPT, send: 'poweroff -f\n' },
      ],
    );
    if (r.status !== 0) throw new Error(`net bench failed: ${r.stderr}`);
    console.log(
      `net     10 MiB host -> guest over HTTP through passt: ${fmt(10 / (r.marks.e - r.marks.s), 2)} MiB/s (host wall time)`,
    );
  } finally {
    server.close();
  }
}

export async function benchDevices(): Promise<void> {
  await disk();
  await download();
}
