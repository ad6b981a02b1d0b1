/**
 * Workloads a user types at the shell, beyond the CPU bench's four hash and
 * compression loops: forks and execs, busybox ash's own evaluator, `sort`,
 * gzip both ways, text tools. Each is typed at the prompt of `vmrs run` and
 * of QEMU TCG on the same images, one session per engine and pair (boot,
 * every workload in turn, `poweroff`), in interleaved pairs; each
 * workload's time runs from its command line to its end marker. What this
 * finds that the CPU bench does not: a kind of code that leaves the
 * translator's blocks at every turn (a stack frame across a page's end
 * stopped ash's evaluator at every call until stop 52: block-writer.ts
 * access), or a guest path one engine takes much longer over.
 *   npm run bench -- --only shell [--pairs N]   (3 pairs by default)
 */
import { PROMPT, median, fmt, runSession, type SessionResult, type Step } from './cli-session.js';
import { pairsWithQemu } from './qemu-pairs.js';

export const SHELL_WORKLOADS: readonly { name: string; cmd: string }[] = [
  {
    name: 'forks and execs',
    cmd: 'for r in 1 2 3; do find / -xdev > /dev/null; ls -lR /proc/self/ >/dev/null 2>&1; for i in $(seq 1 30); do sh -c true; done; done',
  },
  { name: 'shell loop', cmd: 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done' },
  { name: 'sort', cmd: 'seq 1 200000 | sort -r | md5sum' },
  {
    name: 'gzip both ways',
    cmd: 'dd if=/dev/urandom bs=1k count=2000 2>/dev/null | gzip | gzip -d | wc -c',
  },
  {
    name: 'awk, sed, grep',
    cmd: 'seq 1 30000 | awk "{s+=\\$1*\\$1} END {print s}"; seq 1 20000 | sed s/1/x/g | grep -c x',
  },
];

/** The steps of one session: each workload typed at the prompt, its end marked. */
function steps(): Step[] {
  const s: Step[] = [];
  SHELL_WORKLOADS.forEach((w, i) => {
    s.push({
      waitFor: PROMPT,
      send: `${w.cmd}; echo WORKLOAD-$((${i}+1000))\n`,
      mark: `${i} start`,
    });
    s.push({ waitFor: new RegExp(`WORKLOAD-${i + 1000}`), mark: `${i} end` });
  });
  s.push({ waitFor: PROMPT, send: 'poweroff -f\n' });
  return s;
}

async function session(command: string, args: string[]): Promise<number[]> {
  const r: SessionResult = await runSession(command, args, steps(), 600_000);
  return SHELL_WORKLOADS.map((w, i) => {
    const t = r.marks[`${i} end`] - r.marks[`${i} start`];
    if (!(t >= 0))
      throw new Error(
        `${command} did not run "${w.name}" to its end (status ${r.status}): ${r.stderr.slice(-500)}`,
      );
    return t;
  });
}

export async function benchShellWorkloads(pairs = 3): Promise<void> {
  const runs = await pairsWithQemu('shell workloads', pairs, session);
  if (!runs) return;
  const { vmrs, qemu } = runs;
  SHELL_WORKLOADS.forEach((w, k) => {
    const v = vmrs.map((t) => t[k]);
    const q = qemu.map((t) => t[k]);
    const ratios = v.map((t, i) => t / q[i]);
    console.log(
      `shell workload ${w.name.padEnd(16)} vmrs ${fmt(median(v), 2)} s, QEMU ${fmt(median(q), 2)} s, ` +
        `vmrs over QEMU ${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}, ${pairs} pairs)`,
    );
  });
}
