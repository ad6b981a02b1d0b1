/**
 * Host tools the tests use (installed by scripts/setup). A test that needs
 * one asks here: locally a missing tool skips the test and says which
 * Debian package brings it; with VMRS_REQUIRE_TOOLS=1 (set by .ci/run) it
 * fails the test instead, so CI never passes by skipping.
 */
import type { TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';
import { findPasst } from '../../src/host/net-backend.js';

/** Each tool, with the Debian package that installs it. */
export const TOOL_PACKAGES = {
  'gdb-multiarch': 'gdb-multiarch',
  'qemu-system-riscv64': 'qemu-system-misc',
  passt: 'passt',
  dtc: 'device-tree-compiler',
  'riscv64-linux-gnu-gcc': 'gcc-riscv64-linux-gnu',
  'riscv64-linux-gnu-objdump': 'binutils-riscv64-linux-gnu',
  xmllint: 'libxml2-utils',
  'redis-server': 'redis-server',
  chromium: 'chromium',
} as const;

export type Tool = keyof typeof TOOL_PACKAGES;

/** True when a missing tool must fail its test (CI). */
export const REQUIRE_TOOLS = process.env.VMRS_REQUIRE_TOOLS === '1';

const found = new Map<Tool, boolean>();

function present(tool: Tool): boolean {
  let ok = found.get(tool);
  if (ok === undefined) {
    if (tool === 'passt') {
      // vmrs itself looks for passt on the PATH: ask it the same way.
      try {
        findPasst();
        ok = true;
      } catch {
        ok = false;
      }
    } else {
      ok = spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
    }
    found.set(tool, ok);
  }
  return ok;
}

function missingMessage(missing: Tool[]): string {
  const pkgs = [...new Set(missing.map((t) => TOOL_PACKAGES[t]))].join(' ');
  return `needs ${missing.join(', ')} (Debian: apt-get install ${pkgs}; scripts/setup installs it)`;
}

/**
 * In a test: true when every tool is there. Otherwise the test is skipped
 * (locally) or fails (VMRS_REQUIRE_TOOLS=1), and the caller returns.
 */
export function needTools(t: TestContext, ...tools: Tool[]): boolean {
  const missing = tools.filter((tool) => !present(tool));
  if (missing.length === 0) return true;
  const why = missingMessage(missing);
  if (REQUIRE_TOOLS) throw new Error(`${why}; VMRS_REQUIRE_TOOLS=1 makes a missing tool a failure`);
  t.skip(why);
  return false;
}

/**
 * For a test that does more with a tool and less without it (e.g. adds
 * network traffic when passt is there): whether it can be used. Locally a
 * missing tool narrows the test and says so in its report; with
 * VMRS_REQUIRE_TOOLS=1 it fails the test instead.
 */
export function haveTool(t: TestContext, tool: Tool): boolean {
  if (present(tool)) return true;
  const why = missingMessage([tool]);
  if (REQUIRE_TOOLS) throw new Error(`${why}; VMRS_REQUIRE_TOOLS=1 makes a missing tool a failure`);
  t.diagnostic(`narrowed: this test ${why}`);
  return false;
}
