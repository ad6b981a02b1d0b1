/**
 * ISA tests: small bare-metal programs (test/isa/src/*.S) built with the
 * RISC-V cross compiler and run by `vmrs run --bios none --kernel X.elf`,
 * the way a user runs riscv-tests-style binaries. Each reports through HTIF;
 * vmrs's exit status is 0 on pass and the failing test number otherwise.
 * A program that fails on purpose says so in its source (`expect-exit: N`):
 * those show that a failure reaches the exit status at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { needTools } from '../helpers/tools.js';

const SRC = join(REPO_ROOT, 'test/isa/src');
let out: string | undefined;

/** Build every program once, on first use. */
function builtPrograms(): string {
  if (out) return out;
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-isa-'));
  const r = spawnSync('bash', [join(REPO_ROOT, 'test/isa/build.sh'), dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the ISA tests failed:\n${r.stderr}`);
  return (out = dir);
}

const programs = readdirSync(SRC)
  .filter((f) => f.endsWith('.S'))
  .map((f) => f.slice(0, -2))
  .sort();

test('the failing programs are there, so a runner that passes everything would be seen', () => {
  const failing = programs.filter((p) =>
    /expect-exit: [1-9]/.test(readFileSync(join(SRC, `${p}.S`), 'utf8')),
  );
  assert.ok(failing.length >= 2, `programs that fail on purpose: ${failing.join(', ')}`);
});

for (const name of programs) {
  const expected = Number(
    /expect-exit: (\d+)/.exec(readFileSync(join(SRC, `${name}.S`), 'utf8'))?.[1] ?? 0,
  );
  test(`ISA: ${name}${expected ? ` (fails on purpose with ${expected})` : ''}`, (t) => {
    if (!needTools(t, 'riscv64-linux-gnu-gcc')) return;
    const r = spawnSync(
      process.execPath,
      [
        VMRS_BIN,
        'run',
        '-q',
        '--bios',
        'none',
        '--kernel',
        join(builtPrograms(), `${name}.elf`),
        '-m',
        '64',
      ],
      { encoding: 'utf8', timeout: 120_000, input: '' },
    );
    assert.equal(r.signal, null, `${name} was killed (${r.signal}); stderr: ${r.stderr}`);
    assert.equal(r.status, expected, `${name}: exit status ${r.status}; stderr: ${r.stderr}`);
  });
}
