/** The fuzz targets with their case generators: what the short test run and the long command share. */
import fc from 'fast-check';
import type { Seeds } from './seeds.js';
import {
  elfCase,
  fileCase,
  mutateElf,
  mutateRecording,
  mutateSnapshot,
  packetCase,
  packetStream,
} from './mutate.js';
import { ElfTarget, GdbTarget, SnapshotTarget, fuzzRecording, type Outcome } from './targets.js';

export const TARGETS = ['recording', 'snapshot', 'elf', 'gdb'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface Runner {
  arb: fc.Arbitrary<unknown>;
  /** One case: throws for a crash or a hang. */
  run(c: unknown): Outcome | Promise<Outcome>;
}

export function runner(target: TargetName, seeds: Seeds): Runner {
  switch (target) {
    case 'recording':
      return {
        arb: fileCase(1),
        run: (c) => fuzzRecording(mutateRecording(seeds.recording, c as never)),
      };
    case 'snapshot': {
      const t = new SnapshotTarget(seeds);
      return { arb: fileCase(1), run: (c) => t.run(mutateSnapshot(seeds.snapshot, c as never)) };
    }
    case 'elf': {
      const t = new ElfTarget();
      return {
        arb: elfCase(seeds.elves.length),
        run: (c) => {
          const ec = c as ReturnType<typeof elfCase> extends fc.Arbitrary<infer T> ? T : never;
          return t.run(mutateElf(seeds.elves[ec.seed].bytes, ec));
        },
      };
    }
    case 'gdb': {
      const t = new GdbTarget(seeds);
      const arb = fc.record({
        packets: packetCase(seeds.packets.length),
        cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
      });
      return {
        arb,
        run: (c) => {
          const g = c as { packets: Parameters<typeof packetStream>[1]; cuts: number[] };
          return t.run(packetStream(seeds.packets, g.packets), g.cuts);
        },
      };
    }
  }
}

/** The seed of case `i` of a run seeded `seed` (each case can be made again alone). */
export const caseSeed = (seed: number, i: number): number =>
  (seed ^ Math.imul(i + 1, 0x9e3779b1)) | 0;

/** Case `i` of a run seeded `seed`. */
export function makeCase(r: Runner, seed: number, i: number): unknown {
  return fc.sample(r.arb, { seed: caseSeed(seed, i), numRuns: 1 })[0];
}
