/**
 * What the CPU benchmarks type at the default guest's prompt, and how they
 * run the machine until it answers (bench/run.ts, bench/instructions.ts).
 */
import type { VirtMachine } from '../src/machine/virt.js';

/**
 * CPU-bound workloads typed at the prompt, each ending with its marker:
 * hashing (integer code in long basic blocks), compression (byte loops,
 * table lookups, branches) and an awk loop (an interpreter's dispatch, and
 * awk's numbers are doubles: floating-point loads, stores and arithmetic).
 */
export const WORKLOADS = [
  {
    name: 'md5sum 4 MiB',
    cmd: 'dd if=/dev/zero bs=64k count=64 2>/dev/null | md5sum; echo WORKLOAD-$((40+2))',
  },
  {
    name: 'sha256sum 4 MiB',
    cmd: 'dd if=/dev/zero bs=64k count=64 2>/dev/null | sha256sum; echo WORKLOAD-$((40+2))',
  },
  {
    name: 'gzip of seq 1..100000',
    cmd: 'seq 1 100000 | gzip -c | wc -c; echo WORKLOAD-$((40+2))',
  },
  {
    name: 'awk loop 100000 turns',
    cmd: "awk 'BEGIN{for(i=0;i<100000;i++)s+=i%7; print s}'; echo WORKLOAD-$((40+2))",
  },
];
export const WORKLOAD_DONE = 'WORKLOAD-42';

/** Run the machine, skipping idle, until `done(output)` is true. */
export function runUntil(
  vm: VirtMachine,
  out: { text: string },
  done: (s: string) => boolean,
): void {
  for (;;) {
    const { result } = vm.runSlice(1 << 20);
    if (done(out.text)) return;
    if (result === 'exit') throw new Error(`guest exited: ${JSON.stringify(vm.exit)}`);
    if (result === 'idle') {
      const d = vm.nextDeadline();
      if (d === Infinity) throw new Error('guest idles with no timer armed and no input pending');
      vm.advanceTimeTo(d);
    }
  }
}
