/**
 * bin/vmrs: for the shell it starts Node with V8's background pool sized for
 * the machine (src/host/v8-pool.ts); for Node it is the CLI's loader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { hasV8PoolOption, v8PoolOption, v8PoolSize } from '../../src/host/v8-pool.js';
import { VMRS_VERSION } from '../../src/cli/version.js';

/** A directory with stand-ins for `node` (prints its arguments, one a line) and maybe `nproc`. */
function fakeTools(cores?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-launcher-'));
  const tool = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  tool('node', 'for a in "$@"; do printf "%s\\n" "$a"; done');
  if (cores !== undefined) tool('nproc', `echo ${cores}`);
  return dir;
}

function launch(tools: string, args: string[]): string[] {
  const r = spawnSync(VMRS_BIN, args, {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${tools}:${process.env.PATH}` },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').slice(0, -1);
}

test('the pool leaves a core to the guest and keeps to 1-4 threads', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 8, 64].map((n) => v8PoolSize(n)),
    [1, 1, 2, 3, 4, 4, 4],
  );
  assert.equal(v8PoolOption(2), '--v8-pool-size=1');
  assert.ok(hasV8PoolOption(['--v8-pool-size=2']));
  assert.ok(!hasV8PoolOption(['--max-old-space-size=96']));
});

test('the shell starts node with the pool for its cores, then the script and every argument as given', () => {
  for (const cores of [1, 2, 3, 6]) {
    assert.deepEqual(launch(fakeTools(cores), ['replay', 'a b.vmrs', '--to', '$HOME']), [
      v8PoolOption(cores),
      VMRS_BIN,
      'replay',
      'a b.vmrs',
      '--to',
      '$HOME',
    ]);
  }
  // The machine's own nproc: the same count Node sees.
  assert.equal(launch(fakeTools(), [])[0], v8PoolOption(availableParallelism()));
});

test('run by node itself, the launcher is the CLI', () => {
  const r = spawnSync(process.execPath, [VMRS_BIN, '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), VMRS_VERSION);
  // And through the shell, with the pool set.
  const viaShell = spawnSync(VMRS_BIN, ['--version'], { encoding: 'utf8' });
  assert.equal(viaShell.status, 0, viaShell.stderr);
  assert.equal(viaShell.stdout.trim(), VMRS_VERSION);
});
