/**
 * `-m 1G`: the default guest boots with 1 GiB, sees it, fills
 * 320 MiB of it with a tmpfs file, and the session records and replays
 * (every state digest, RAM included, verified).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';

const vmrs = (args: string[], input = '') =>
  spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    input,
    timeout: 900_000,
    maxBuffer: 1 << 26,
  });

test('-m 1G: the guest has 1 GiB, uses it, records and replays', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'vmrs-1g-')), 'big.vmrs');
  const rec = vmrs(
    ['record', '-q', '-m', '1G', '-o', file],
    [
      'grep MemTotal /proc/meminfo',
      // 320 MiB in tmpfs: more than the default 256 MiB machine has.
      'mount -t tmpfs -o size=800m tmpfs /mnt && dd if=/dev/zero of=/mnt/big bs=1M count=320 2>/dev/null',
      'echo FILLED-$((6*7)) $(stat -c %s /mnt/big); grep MemFree /proc/meminfo',
      'poweroff -f',
      '',
    ].join('\n'),
  );
  assert.equal(rec.status, 0, rec.stderr);
  const total = Number(/MemTotal:\s+(\d+) kB/.exec(rec.stdout)?.[1]);
  // 1 GiB less what the kernel keeps for itself: well above anything 512 MiB could give.
  assert.ok(total > 900 * 1024 && total <= 1024 * 1024, `MemTotal ${total} kB`);
  assert.match(rec.stdout, /FILLED-42 335544320\r?\n/);
  const free = Number(/MemFree:\s+(\d+) kB/.exec(rec.stdout)?.[1]);
  assert.ok(free < total - 320 * 1024, `MemFree ${free} kB after filling 320 MiB`);
  const info = JSON.parse(vmrs(['inspect', '--json', file]).stdout) as {
    machine: { memoryBytes: number };
  };
  assert.equal(info.machine.memoryBytes, 1 << 30);
  const rep = vmrs(['replay', file]);
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stderr, /replay complete: .* (\d+) state digests verified/);
  assert.equal(rep.stdout, rec.stdout);
});
