/**
 * Golden recordings: small recordings checked in with the console output and
 * exit status they were made with (see README.md here). Replaying each must
 * give exactly that output and status, every state digest verified — with
 * the file alone (its program is embedded). golden-v1 was written by vmrs
 * before the format went to version 2: it shows that old files still replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';

const DIR = join(REPO_ROOT, 'test/golden');
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.vmrs'))
  .map((f) => f.slice(0, -5))
  .sort();

/** Run vmrs away from the repository, with nothing on the PATH: the file must stand alone. */
const vmrs = (args: string[]) =>
  spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    cwd: mkdtempSync(join(tmpdir(), 'vmrs-golden-')),
    env: { ...process.env, PATH: '/nonexistent' },
    timeout: 120_000,
  });

test('the golden recordings are all there, one per format version', () => {
  assert.deepEqual(names, ['golden-v1', 'golden-v2']);
});

for (const name of names) {
  test(`golden recording ${name} replays to its recorded output and status`, () => {
    const want = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as {
      status: number;
      formatVersion: number;
    };
    const output = readFileSync(join(DIR, `${name}.out`), 'latin1');
    // What the program prints when it got every input: the output is worth comparing against.
    assert.match(
      output,
      /^golden: hello\nrtc ns: \d{19}\nentropy: [0-9a-f]{32}\nline 0: \[first line\] 10 bytes\nline 1: \[second\] 6 bytes\nslept; instret \d+\nchecksum [0-9a-f]{8}\n$/,
    );
    assert.ok(want.status >= 1 && want.status <= 100, `status ${want.status}`);

    const file = join(DIR, `${name}.vmrs`);
    const info = JSON.parse(vmrs(['inspect', '--json', file]).stdout) as {
      formatVersion: number;
      images: { kernel: { embedded: boolean } };
      events: Record<string, { count: number }>;
    };
    assert.equal(info.formatVersion, want.formatVersion, 'the file is of the version it claims');
    assert.equal(info.images.kernel.embedded, true);
    assert.equal(info.events.console.count, 2);
    assert.equal(info.events.entropy.count, 1);
    assert.ok(info.events['idle-jump'].count >= 1);

    const r = vmrs(['replay', file]);
    assert.equal(r.stdout, output);
    assert.equal(r.status, want.status, r.stderr);
    const verified = Number(/(\d+) state digests verified/.exec(r.stderr)?.[1]);
    assert.ok(verified >= 2, r.stderr);

    const nv = vmrs(['replay', '-q', '--no-verify', file]);
    assert.equal(nv.stdout, output);
    assert.equal(nv.status, want.status);
  });
}
