/**
 * ISA tests: small bare-metal programs (test/isa/src/*.S) built with the
 * RISC-V cross compiler and run by `vmrs run --bios none --kernel X.elf`,
 * the way a user runs riscv-tests-style binaries. Each reports through HTIF;
 * vmrs's exit status is 0 on pass and the failing test number otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';

const SRC = join(REPO_ROOT, 'test/isa/src');
const haveCc = spawnSync('riscv64-linux-gnu-gcc', ['--version']).status === 0;
const out = mkdtempSync(join(tmpdir(), 'vmrs-isa-'));
let built = false;
if (haveCc) {
  const r = spawnSync('bash', [join(REPO_ROOT, 'test/isa/build.sh'), out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the ISA tests failed:\n${r.stderr}`);
  built = true;
}

const programs = readdirSync(SRC)
  .filter((f) => f.endsWith('.S'))
  .map((f) => f.slice(0, -2))
  .sort();

for (const name of programs) {
  test(`ISA: ${name}`, { skip: built ? false : 'riscv64-linux-gnu-gcc is not installed' }, () => {
    const r = spawnSync(
      process.execPath,
      [VMRS_BIN, 'run', '-q', '--bios', 'none', '--kernel', join(out, `${name}.elf`), '-m', '64'],
      { encoding: 'utf8', timeout: 120_000, input: '' },
    );
    assert.equal(r.signal, null, `${name} was killed (${r.signal}); stderr: ${r.stderr}`);
    // sifive-test-fail reports code 7 through sifive_test on purpose.
    const expected = name === 'sifive-test-fail' ? 7 : 0;
    assert.equal(r.status, expected, `${name}: exit status ${r.status}; stderr: ${r.stderr}`);
  });
}
