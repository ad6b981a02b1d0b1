/**
 * The long virtqueue fuzzing run (the cases and invariants are in
 * test/devices/virtqueue-fuzz.ts): hostile descriptor tables, rings and
 * indices from a fake driver against every virtio device type.
 *
 *   npm run fuzz:virtqueue -- [--cases N] [--seed S] [--batch B] [--hang-seconds T]
 *   node dist/bench/fuzz-virtqueue.js --cases 1000000 --seed 1
 *
 * Cases run in a worker thread in batches of B, batch i with fast-check seed
 * S + i; the main thread watches it, so a case that never returns (no
 * progress in T seconds of CPU time) is counted as a hang, with its batch
 * seed, and the run goes on with the next batch.
 * A failing case is reported with its seed and fast-check path; repeat it
 * with fc.assert(property, { seed, path }). Prints cases tried, crashes,
 * hangs, other invariant failures and peak memory; exits 1 if any failed.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { fuzzCaseArb, runFuzzCase, FuzzViolation } from '../test/devices/virtqueue-fuzz.js';

interface Failure {
  kind: string;
  message: string;
  seed: number;
  path: string;
}

interface BatchReport {
  type: 'batch';
  batch: number;
  cases: number;
  byDevice: Record<string, number>;
  needsReset: number;
  returned: number;
  ops: number;
  maxAccesses: number;
  maxOpMs: number;
  heapUsed: number;
  failure?: Failure;
}

interface Job {
  seed: number;
  batchSize: number;
  firstBatch: number;
  /** Cases to run in all, and how many earlier workers ran. */
  cases: number;
  casesBefore: number;
}

function runWorker(job: Job): void {
  // A batch that fails ends early (endOnFailure), so batches go on until enough cases ran.
  let done = job.casesBefore;
  for (let b = job.firstBatch; done < job.cases; b++) {
    parentPort!.postMessage({ type: 'start', batch: b });
    const seed = (job.seed + b) >>> 0;
    let ran = 0;
    const rep: BatchReport = {
      type: 'batch',
      batch: b,
      cases: 0,
      byDevice: {},
      needsReset: 0,
      returned: 0,
      ops: 0,
      maxAccesses: 0,
      maxOpMs: 0,
      heapUsed: 0,
    };
    const r = fc.check(
      fc.property(fuzzCaseArb, (c) => {
        // Progress within the batch: the watchdog's heartbeat, and the count if a case hangs.
        if (++ran % 500 === 0) parentPort!.postMessage({ type: 'tick', cases: ran });
        rep.byDevice[c.device] = (rep.byDevice[c.device] ?? 0) + 1;
        const s = runFuzzCase(c);
        rep.ops += s.ops;
        rep.returned += s.returned;
        if (s.needsReset) rep.needsReset++;
        if (s.maxAccesses > rep.maxAccesses) rep.maxAccesses = s.maxAccesses;
        if (s.maxOpMs > rep.maxOpMs) rep.maxOpMs = s.maxOpMs;
      }),
      // endOnFailure: count the failure and move on (no shrinking in the long run).
      { seed, numRuns: Math.min(job.batchSize, job.cases - done), endOnFailure: true },
    );
    rep.cases = r.numRuns;
    done += r.numRuns;
    if (r.failed) {
      const e = r.errorInstance;
      rep.failure = {
        kind: e instanceof FuzzViolation ? e.kind : 'crash',
        message: String(e instanceof Error ? e.message : e).slice(0, 2000),
        seed,
        path: r.counterexamplePath ?? '',
      };
    }
    rep.heapUsed = process.memoryUsage().heapUsed;
    parentPort!.postMessage(rep);
  }
}

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name} needs a whole number`);
  return v;
}

const MiB = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const cases = arg(args, '--cases', 100_000);
  const seed = arg(args, '--seed', Math.floor(Math.random() * 2 ** 31));
  const batchSize = Math.max(1, arg(args, '--batch', 10_000));
  const hangMs = arg(args, '--hang-seconds', 60) * 1000;
  console.log(
    `virtqueue fuzzing: seed ${seed}, ${cases} cases in batches of up to ${batchSize} (batch i: fast-check seed ${seed} + i)`,
  );
  const t0 = performance.now();
  const total = {
    cases: 0,
    byDevice: {} as Record<string, number>,
    needsReset: 0,
    returned: 0,
    ops: 0,
    maxAccesses: 0,
    maxOpMs: 0,
  };
  const failures: Failure[] = [];
  let peakRss = process.memoryUsage().rss;
  let firstHeap = 0;
  let peakHeap = 0;
  let next = 0;
  let deaths = 0;
  while (total.cases < cases) {
    const outcome = await new Promise<'done' | 'hang' | 'died'>((resolve) => {
      const w = new Worker(new URL(import.meta.url), {
        workerData: {
          seed,
          batchSize,
          firstBatch: next,
          cases,
          casesBefore: total.cases,
        } satisfies Job,
      });
      // Progress is measured against CPU time the process spent (user + system, all threads):
      // a worker starved by a loaded machine is not hung; one spinning in a case is.
      const cpuMs = () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      };
      let last = cpuMs();
      let current = next;
      let ranInBatch = 0;
      const watch = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        if (cpuMs() - last > hangMs) {
          clearInterval(watch);
          // The cases the batch finished before, and the one that hung.
          total.cases += ranInBatch + 1;
          failures.push({
            kind: 'hang',
            message: `batch ${current}, near case ${ranInBatch}: no progress in ${hangMs / 1000} s of CPU time`,
            seed: (seed + current) >>> 0,
            path: '',
          });
          void w.terminate();
          next = current + 1;
          resolve('hang');
        }
      }, 500);
      w.on(
        'message',
        (m: { type: 'start'; batch: number } | { type: 'tick'; cases: number } | BatchReport) => {
          last = cpuMs();
          if (m.type === 'start') {
            current = m.batch;
            ranInBatch = 0;
            return;
          }
          if (m.type === 'tick') {
            ranInBatch = m.cases;
            return;
          }
          total.cases += m.cases;
          for (const [d, n] of Object.entries(m.byDevice))
            total.byDevice[d] = (total.byDevice[d] ?? 0) + n;
          total.needsReset += m.needsReset;
          total.returned += m.returned;
          total.ops += m.ops;
          total.maxAccesses = Math.max(total.maxAccesses, m.maxAccesses);
          total.maxOpMs = Math.max(total.maxOpMs, m.maxOpMs);
          if (!firstHeap) firstHeap = m.heapUsed;
          peakHeap = Math.max(peakHeap, m.heapUsed);
          if (m.failure) {
            failures.push(m.failure);
            console.log(
              `  ${m.failure.kind} in batch ${m.batch}: seed ${m.failure.seed}, path "${m.failure.path}": ${m.failure.message.split('\n')[0]}`,
            );
          }
          next = m.batch + 1;
          const secs = (performance.now() - t0) / 1000;
          process.stderr.write(
            `  ${total.cases} cases, ${failures.length} failures, ${(total.cases / secs).toFixed(0)} cases/s, worker heap ${MiB(m.heapUsed)}\n`,
          );
        },
      );
      w.on('error', (e) => {
        clearInterval(watch);
        failures.push({ kind: 'crash', message: `worker died: ${e.message}`, seed, path: '' });
        next = current + 1;
        resolve('died');
      });
      w.on('exit', () => {
        clearInterval(watch);
        resolve('done');
      });
    });
    if (outcome === 'hang') console.log(`  ${failures[failures.length - 1].message}`);
    if (outcome === 'died' && ++deaths >= 10) {
      console.log('  the worker died 10 times: stopping');
      break;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const count = (k: string) => failures.filter((f) => f.kind === k).length;
  const other = failures.length - count('crash') - count('hang');
  console.log(`seed                 ${seed}`);
  console.log(`cases tried          ${total.cases}`);
  console.log(
    `  by device          ${Object.entries(total.byDevice)
      .sort()
      .map(([d, n]) => `${d} ${n}`)
      .join(', ')}`,
  );
  console.log(`  operations         ${total.ops} (on top of each case's set-up)`);
  console.log(
    `  outcome            device live at the end ${total.cases - total.needsReset}, DEVICE_NEEDS_RESET ${total.needsReset}; ${total.returned} requests returned`,
  );
  console.log(`crashes              ${count('crash')}`);
  console.log(`hangs                ${count('hang')}`);
  console.log(
    `other failures       ${other} (invariant ${count('invariant')}, memory ${count('memory')}, nondeterminism ${count('nondeterminism')})`,
  );
  console.log(`most RAM accesses    ${total.maxAccesses} in one operation`);
  console.log(`slowest operation    ${total.maxOpMs.toFixed(1)} ms`);
  console.log(
    `memory               peak RSS ${MiB(peakRss)}; worker heap ${MiB(firstHeap)} after the first batch, ${MiB(peakHeap)} at most`,
  );
  console.log(
    `time                 ${secs.toFixed(0)} s (${(total.cases / secs).toFixed(0)} cases/s)`,
  );
  return failures.length ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => (process.exitCode = code),
    (e: Error) => {
      process.stderr.write(`fuzz-virtqueue: ${e.message}\n`);
      process.exitCode = 2;
    },
  );
} else runWorker(workerData as Job);
