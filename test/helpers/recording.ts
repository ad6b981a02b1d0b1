/**
 * Recording a guest session the way a user does (`vmrs record` driven at its
 * console) and replaying the file alone, checking that the replay prints
 * the same console bytes, exits with the same status and verifies its state
 * digests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { GuestSession, VMRS_BIN } from './guest-session.js';

export const PROMPT = /[#$] $/m;

export interface Recording {
  file: string;
  output: string;
  status: number | null;
  /** What vmrs record wrote to standard error (plugins print there). */
  stderr?: string;
}

/** Start `vmrs record -q -o FILE ARGS…` and wait for the shell prompt. */
export async function startRecording(file: string, args: string[]): Promise<GuestSession> {
  const vm = new GuestSession(['record', '-q', '-o', file, ...args]);
  try {
    await vm.waitFor(PROMPT);
  } catch (e) {
    vm.kill();
    throw e;
  }
  return vm;
}

/** `poweroff -f` in the guest; the recording as it was made. */
export async function finishRecording(vm: GuestSession, file: string): Promise<Recording> {
  vm.type('poweroff -f\n');
  const status = await vm.exited;
  assert.equal(status, 0, `record exit status; stderr: ${vm.stderr}`);
  return { file, output: vm.output, status, stderr: vm.stderr };
}

/** Record a session: boot, `body` at the prompt, poweroff. */
export async function recordSession(
  file: string,
  args: string[],
  body: (vm: GuestSession) => Promise<void>,
): Promise<Recording> {
  const vm = await startRecording(file, args);
  try {
    await body(vm);
    return await finishRecording(vm, file);
  } finally {
    vm.kill();
  }
}

export interface ReplayResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `vmrs COMMAND FILE EXTRA…` (replay, trace, profile, …), run to its end. */
export function vmrsOn(command: string, file: string, extra: string[] = []): ReplayResult {
  const r = spawnSync(process.execPath, [VMRS_BIN, command, file, ...extra], {
    encoding: 'latin1',
    maxBuffer: 1 << 28,
    timeout: 1_200_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function replayFile(file: string, extra: string[] = []): ReplayResult {
  return vmrsOn('replay', file, extra);
}

/** Replay the file alone: same console bytes, same exit status, every digest verified. */
export function assertReplays(rec: Recording, label = rec.file): ReplayResult {
  const r = replayFile(rec.file);
  assert.equal(r.status, rec.status, `${label}: replay exit status; stderr: ${r.stderr}`);
  assert.match(
    r.stderr,
    /replay complete: \d+ instructions .* (\d+) state digests verified/,
    `${label}: ${r.stderr}`,
  );
  const verified = Number(/(\d+) state digests verified/.exec(r.stderr)![1]);
  assert.ok(verified >= 2, `${label}: at least the first and the final digest were checked`);
  if (r.stdout !== rec.output) {
    let at = 0;
    while (r.stdout[at] === rec.output[at]) at++;
    assert.fail(
      `${label}: replay output differs from the recording at byte ${at}:\n` +
        `recorded: ${JSON.stringify(rec.output.slice(Math.max(0, at - 80), at + 80))}\n` +
        `replayed: ${JSON.stringify(r.stdout.slice(Math.max(0, at - 80), at + 80))}`,
    );
  }
  return r;
}
