/**
 * Other firmware than the default OpenSBI fw_dynamic.bin: Debian's fw_jump
 * as a binary, and fw_jump and fw_dynamic as ELF files, each boots the
 * default guest to its shell, records and replays. What OpenSBI reports of
 * the platform and of what it hands the kernel (next address, the device
 * tree's address, the mode) is compared with the same firmware, kernel and
 * initrd on QEMU's virt board, which is the reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { needTools } from '../helpers/tools.js';
import { findFirmware } from '../../src/host/firmware.js';
import { ensureDefaultGuest } from '../../src/host/default-guest.js';
import { QEMU_BINARY } from '../../src/host/qemu.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-fw-'));
const APPEND = 'console=ttyS0 quiet';
const BANNER_END = 'Boot HART MEDELEG';
/** Lines about the hart itself: QEMU's has the H extension, PMP and hpm counters that vmrs does not. */
const HART_FEATURES = /^Boot HART (Base ISA|PMP Count|MHPM Count|MIDELEG|MEDELEG)\s/;

/** Debian's opensbi package ships these next to fw_dynamic.bin and fw_jump.bin. */
function firmware(name: string): string {
  const p = join(dirname(findFirmware('fw_jump')), name);
  assert.ok(existsSync(p), `${p} (Debian package opensbi)`);
  return p;
}

const vmrs = (args: string[], input = '') =>
  spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'latin1',
    input,
    timeout: 600_000,
  });

/** OpenSBI's boot banner, from "Platform Name" to its last line. */
function banner(out: string): string[] {
  const lines = out.replace(/\r/g, '').split('\n');
  const from = lines.findIndex((l) => l.startsWith('Platform Name'));
  const to = lines.findIndex((l) => l.startsWith(BANNER_END));
  assert.ok(from >= 0 && to > from, `no OpenSBI banner in:\n${out.slice(0, 3000)}`);
  return lines.slice(from, to + 1);
}

/** The banner QEMU's run of the same images prints; QEMU is stopped once it is out. */
async function qemuBanner(bios: string, kernel: string, initrd: string): Promise<string[]> {
  const q = spawn(
    QEMU_BINARY,
    [
      ...['-M', 'virt', '-m', '256M', '-smp', '1', '-nographic', '-bios', bios],
      ...['-kernel', kernel, '-initrd', initrd, '-append', APPEND],
    ],
    { stdio: 'pipe' },
  );
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      q.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if (out.includes(BANNER_END) && /MEDELEG[^\n]*\n/.test(out)) resolve();
      });
      q.on('exit', () => reject(new Error(`QEMU exited before its banner:\n${out}`)));
    });
  } finally {
    q.kill('SIGKILL');
  }
  return banner(out);
}

for (const name of ['fw_jump.bin', 'fw_jump.elf', 'fw_dynamic.elf']) {
  test(`--bios ${name}: boots the default guest to its shell, records and replays; OpenSBI sees what it sees on QEMU`, async (t) => {
    const bios = firmware(name);
    const file = join(dir, `${name}.vmrs`);
    const rec = vmrs(
      ['record', '-q', '-o', file, '--bios', bios, '--append', APPEND],
      'echo FW-$((40+2)); cat /proc/cmdline\npoweroff -f\n',
    );
    assert.equal(rec.status, 0, rec.stderr);
    assert.match(rec.stdout, /OpenSBI v\d/);
    assert.match(
      rec.stdout,
      /[#$] echo FW-\$\(\(40\+2\)\)[^\n]*\r?\nFW-42\r?\n/,
      'the shell ran it',
    );
    const info = JSON.parse(vmrs(['inspect', '--json', file]).stdout) as {
      images: { bios: { path: string } };
    };
    assert.equal(info.images.bios.path, bios, 'the recording names the firmware given');
    const rep = vmrs(['replay', '-q', file]);
    assert.equal(rep.status, 0, rep.stderr);
    assert.equal(rep.stdout, rec.stdout);

    if (!needTools(t, 'qemu-system-riscv64')) return;
    const guest = await ensureDefaultGuest({});
    const ours = banner(rec.stdout).filter((l) => !HART_FEATURES.test(l));
    const theirs = (await qemuBanner(bios, guest.kernel, guest.initrd)).filter(
      (l) => !HART_FEATURES.test(l),
    );
    assert.deepEqual(ours, theirs);
    assert.ok(
      ours.some((l) => /^Domain0 Next Arg1\s+: 0x[0-9a-f]+/.test(l)),
      ours.join('\n'),
    );
  });
}
