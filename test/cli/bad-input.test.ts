/** Bad input on the command line: one clear error line and a non-zero status, never a stack trace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-bad-'));

function vmrs(...args: string[]) {
  const r = spawnSync(process.execPath, [VMRS_BIN, ...args], { encoding: 'utf8', input: '' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function assertOneLineError(r: { status: number | null; stderr: string }, pattern: RegExp) {
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.match(lines[0], /^vmrs: error: /);
  assert.match(lines[0], pattern);
}

test('a missing kernel image', () => {
  assertOneLineError(
    vmrs('run', '--kernel', join(dir, 'nope'), '--bios', 'none'),
    /does not exist/,
  );
});

test('a missing firmware image', () => {
  const k = join(dir, 'k.bin');
  writeFileSync(k, new Uint8Array(4096));
  assertOneLineError(
    vmrs('run', '--bios', join(dir, 'nofw'), '--kernel', k),
    /firmware .* does not exist/,
  );
});

test('a kernel that is neither a Linux Image nor an ELF', () => {
  const k = join(dir, 'text.txt');
  writeFileSync(k, 'this is not a kernel\n'.repeat(100));
  assertOneLineError(
    vmrs('run', '--bios', 'none', '--kernel', k),
    /not a RISC-V Linux Image or ELF/,
  );
});

test('an empty image', () => {
  const k = join(dir, 'empty');
  writeFileSync(k, '');
  assertOneLineError(vmrs('run', '--bios', 'none', '--kernel', k), /empty/);
});

test('too little memory for the image', () => {
  // A valid-looking Linux Image header claiming a 64 MiB image.
  const img = new Uint8Array(4096);
  const dv = new DataView(img.buffer);
  dv.setUint32(0, 0x0000006f, true); // code0: a jump, as Linux has
  dv.setBigUint64(8, 0x200000n, true); // text_offset
  dv.setBigUint64(16, 64n * 1024n * 1024n, true); // image_size
  img.set(new TextEncoder().encode('RISCV\0\0\0'), 0x30);
  img.set(new TextEncoder().encode('RSC\x05'), 0x38);
  const k = join(dir, 'Image');
  writeFileSync(k, img);
  assertOneLineError(
    vmrs('run', '--bios', 'none', '--kernel', k, '-m', '16M'),
    /too small|does not fit/,
  );
});

test('an invalid memory size', () => {
  assertOneLineError(
    vmrs('run', '--bios', 'none', '--kernel', '/dev/null', '-m', 'lots'),
    /invalid memory size/,
  );
});

test('a disk image that does not exist, and bad --drive / --net / --hvc specs', () => {
  const k = join(dir, 'k2.bin');
  writeFileSync(k, new Uint8Array(4096));
  const base = ['run', '--bios', 'none', '--kernel', k];
  assertOneLineError(
    vmrs(...base, '--drive', join(dir, 'nodisk.img')),
    /disk image .* does not exist/,
  );
  assertOneLineError(vmrs(...base, '--drive', 'file=x.img,fromat=raw'), /unknown key 'fromat'/);
  assertOneLineError(vmrs(...base, '--drive', 'file=x.img,format=qcow2'), /format 'qcow2'/);
  assertOneLineError(vmrs(...base, '--net', 'user,hostfwd=tcp::x-:80'), /bad hostfwd/);
  assertOneLineError(vmrs(...base, '--net', 'socket'), /listen=PATH or connect=PATH/);
  assertOneLineError(vmrs(...base, '--net', 'user,mac=01:00:00:00:00:01'), /multicast/);
  assertOneLineError(vmrs(...base, '--hvc', 'tty'), /--hvc/);
  const tiny = join(dir, 'tiny.img');
  writeFileSync(tiny, new Uint8Array(100));
  assertOneLineError(vmrs(...base, '--drive', tiny), /smaller than one 512-byte sector/);
  const rec = ['record', '-o', join(dir, 'never.vmrs'), '--bios', 'none', '--kernel', k];
  assertOneLineError(vmrs(...rec, '--checkpoint-every', '5q'), /'5q' is neither instructions/);
  assertOneLineError(vmrs(...rec, '--checkpoint-every', '200'), /at least 1000 instructions/);
});

test('--net user without passt installed says how to install it', () => {
  const k = join(dir, 'k3.bin');
  writeFileSync(k, new Uint8Array(4096));
  const r = spawnSync(
    process.execPath,
    [VMRS_BIN, 'run', '--bios', 'none', '--kernel', k, '--net', 'user'],
    { encoding: 'utf8', input: '', env: { ...process.env, PATH: join(dir, 'empty-path') } },
  );
  assertOneLineError(r, /passt is not installed; install it with: sudo apt-get install passt/);
});
