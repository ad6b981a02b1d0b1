/**
 * The headline figure: boot + `sha256sum` of 4 MiB + `poweroff`,
 * typed at the prompt of `vmrs run` and of QEMU TCG on the same images, as
 * whole processes from start to exit (Node's start, the bundle, the warm-up,
 * every compile included), in interleaved pairs: each pair runs one after
 * the other, which one first alternating, so that a slow moment of a shared
 * host falls on both.
 *   npm run bench -- --only whole [--pairs N]   (8 pairs by default)
 */
import { PROMPT, runSession, spread, type SessionResult, type Step } from './cli-session.js';
import { pairsWithQemu } from './qemu-pairs.js';
import { hotProfileOff } from '../src/host/hot-profile.js';

const WORKLOAD =
  'dd if=/dev/zero bs=64k count=64 2>/dev/null | sha256sum; echo WORKLOAD-$((40+2))\n';

const steps: Step[] = [
  { waitFor: /\S/, mark: 'first output' },
  { waitFor: PROMPT, send: WORKLOAD, mark: 'prompt' },
  { waitFor: /WORKLOAD-42/, mark: 'workload done' },
  { waitFor: PROMPT, send: 'poweroff -f\n' },
];

async function session(command: string, args: string[]): Promise<SessionResult> {
  const r = await runSession(command, args, steps, 300_000);
  if (r.status !== 0 || r.marks['workload done'] === undefined)
    throw new Error(
      `${command} did not run the workload to its end (status ${r.status}): ${r.stderr.slice(-500)}`,
    );
  return r;
}

export async function benchWholeProcess(pairs = 8): Promise<void> {
  const runs = await pairsWithQemu('whole process', pairs, session);
  if (!runs) return;
  const { vmrs, qemu } = runs;
  const wall = (rs: SessionResult[]) => rs.map((r) => r.wallSeconds);
  const mark = (rs: SessionResult[], name: string) => rs.map((r) => r.marks[name]);
  for (const [name, rs] of [
    ['vmrs', vmrs],
    ['qemu', qemu],
  ] as const)
    console.log(
      `whole process  ${name}: ${spread(wall(rs), 2, ' s')}; first output at ${spread(mark(rs, 'first output'), 3, ' s')}, ` +
        `prompt at ${spread(mark(rs, 'prompt'), 2, ' s')}, sha256sum ${spread(
          rs.map((r) => r.marks['workload done'] - r.marks.prompt),
          2,
          ' s',
        )}`,
    );
  // As a user's second run and later: seeded from the last run of the same images
  // (src/host/hot-profile.ts), unless VMRS_NO_HOT_PROFILE=1 asks for a first run's figures.
  console.log(
    `whole process  vmrs's hot-code profile: ${hotProfileOff() ? 'off (VMRS_NO_HOT_PROFILE=1)' : 'on (kept from the runs before)'}`,
  );
  const ratios = vmrs.map((r, i) => r.wallSeconds / qemu[i].wallSeconds);
  console.log(
    `whole process  boot + sha256sum + poweroff, vmrs over QEMU, ${pairs} interleaved pairs: ` +
      `${spread(ratios, 2)} (target 1.5)`,
  );
}
