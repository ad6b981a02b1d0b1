/**
 * Images a recording (or a command line) names by path: only regular files
 * are read — /dev/zero would hash forever, a FIFO would block — the recorded
 * size is checked before anything is hashed, and an image that changes
 * while a recording runs is said at the end and noted in the file.
 * Children run with a timeout so that a hang fails the test instead of
 * stalling the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import {
  encodeHeader,
  encodeImageChunk,
  type RecordingHeader,
} from '../../src/replay/log-format.js';
import { headerFor, loopElf, sha256 } from '../fuzz/crafted.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-images-'));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);

function vmrs(...args: string[]) {
  const r = spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'utf8',
    input: '',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, signal: r.signal };
}

function recordingWith(name: string, edit: (h: RecordingHeader) => void): string {
  const kernel = loopElf();
  const h = headerFor(kernel);
  edit(h);
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat([encodeHeader(h), encodeImageChunk('kernel', kernel)]));
  return file;
}

const zeros = new Uint8Array(1 << 20);

test('a recording naming /dev/zero or a FIFO as its kernel: refused at once', () => {
  for (const path of ['/dev/zero', fifo]) {
    const file = recordingWith(`kernel-${path.length}.vmrs`, (h) => {
      h.kernel = { path, size: zeros.length, sha256: sha256(zeros), embedded: false };
    });
    const r = vmrs('replay', file);
    assert.equal(r.status, 1, `${path}: ${r.signal ?? ''} ${r.stderr}`);
    assert.match(r.stderr, /kernel '.*' is not a regular file/);
  }
});

test('a recording naming /dev/zero or a FIFO as a disk: refused at once', () => {
  for (const path of ['/dev/zero', fifo]) {
    const file = recordingWith(`disk-${path.length}.vmrs`, (h) => {
      h.devices = [
        {
          kind: 'blk',
          disk: {
            path,
            size: zeros.length,
            sha256: sha256(zeros),
            embedded: false,
            serial: '',
            readOnly: true,
          },
        },
      ];
    });
    const r = vmrs('replay', file);
    assert.equal(r.status, 1, `${path}: ${r.signal ?? ''} ${r.stderr}`);
    assert.match(r.stderr, /disk image '.*' is not a regular file/);
  }
});

test('an image of another size than recorded is refused by its size', () => {
  const disk = join(dir, 'other-size.img');
  writeFileSync(disk, new Uint8Array(4096));
  const file = recordingWith('size.vmrs', (h) => {
    h.devices = [
      {
        kind: 'blk',
        disk: {
          path: disk,
          size: 8192,
          sha256: sha256(zeros),
          embedded: false,
          serial: '',
          readOnly: true,
        },
      },
    ];
  });
  const r = vmrs('replay', file);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /is not the one recorded \(4096 bytes, recorded 8192\)/);
});

test('inspect, replay, run and snapshot loading refuse a device or FIFO as their file', () => {
  for (const path of ['/dev/zero', fifo]) {
    for (const args of [
      ['inspect', path],
      ['replay', path],
      ['run', '--bios', 'none', '--kernel', path],
      ['run', '--load-snapshot', path],
    ]) {
      const r = vmrs(...args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.signal ?? ''} ${r.stderr}`);
      assert.match(r.stderr, /is not a regular file/, args.join(' '));
    }
  }
});

/**
 * Record the loop kernel (with a disk), write `victim` once the recorder
 * runs, stop it: the recording's notes and what the recorder said.
 */
async function recordWhileWriting(victim: 'disk' | 'kernel', name: string) {
  const kernel = join(dir, `${name}.elf`);
  writeFileSync(kernel, loopElf());
  const disk = join(dir, `${name}.img`);
  writeFileSync(disk, new Uint8Array(1 << 20));
  const rec = join(dir, `${name}.vmrs`);
  const child = spawn(
    process.execPath,
    [
      VMRS_BIN,
      'record',
      '-o',
      rec,
      '--bios',
      'none',
      '--kernel',
      kernel,
      '--drive',
      `file=${disk}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // The recorder is running (its signal handlers set) once its first events chunk is in the
  // file after the header: the recording grows past its first size.
  let first = 0;
  for (let tries = 0; ; tries++) {
    const size = existsSync(rec) ? statSync(rec).size : 0;
    if (first === 0) first = size;
    else if (size > first) break;
    assert.ok(tries < 1200 && child.exitCode === null, `the recorder did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const fd = openSync(victim === 'disk' ? disk : kernel, 'r+');
  writeSync(fd, Buffer.from('changed'), 0, 7, 4096);
  closeSync(fd);
  child.kill('SIGTERM');
  const status = await exited;
  assert.equal(status, 130, stderr);
  const info = JSON.parse(vmrs('inspect', '--json', rec).stdout) as {
    notes: { icount: number; text: string }[];
    complete: boolean;
  };
  assert.equal(info.complete, true, 'the recording was still written to its end');
  return { rec, stderr, notes: info.notes };
}

test('a disk image written while a recording runs: a warning, and a note in the recording', async () => {
  const { rec, stderr, notes } = await recordWhileWriting('disk', 'changed');
  assert.match(
    stderr,
    /warning: disk image '.*changed\.img' \(disk 0\) changed while recording \(it was written\)/,
  );
  assert.equal(notes.length, 1);
  assert.match(notes[0].text, /disk image .* changed while recording/);
  const r = vmrs('replay', rec);
  assert.match(r.stderr, /warning: the recorder noted at icount \d+: disk image/);
  assert.match(r.stderr, /is not the one recorded \(its digest differs\)/);
});

test('a kernel written while a recording runs: a warning, and a note in the recording', async () => {
  const { stderr, notes } = await recordWhileWriting('kernel', 'kernel-changed');
  assert.match(stderr, /warning: kernel '.*kernel-changed\.elf' changed while recording/);
  assert.equal(notes.length, 1);
  assert.match(notes[0].text, /kernel .* changed while recording .* record with --embed/);
});
