/**
 * Time-travel figures on a recording of more than 60 guest seconds (a boot,
 * then a shell doing a little work every two seconds):
 *   - seek to random icounts (target < 2 s each),
 *   - reverse-stepi latency (target < 0.3 s),
 *   - memory the checkpoints hold,
 *   - snapshot size, save and restore time.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROMPT, fmt, runVmrs } from './cli-session.js';
import { openReplay } from '../src/cli/open-replay.js';
import { ReplayTarget } from '../src/gdb/replay-target.js';
import { captureSnapshot, readSnapshot, restoreSnapshot } from '../src/snapshot/snapshot-file.js';
import { readRecording } from '../src/replay/log-format.js';
import { readFileSync } from 'node:fs';
import { prng } from '../test/helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-bench-tt-'));

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `mean ${fmt(mean, 3)} s, median ${fmt(s[s.length >> 1], 3)} s, max ${fmt(s[s.length - 1], 3)} s`;
}

export async function benchTimeTravel(): Promise<void> {
  const file = join(dir, 'long.vmrs');
  const rec = await runVmrs(
    ['record', '-q', '-o', file],
    [
      {
        waitFor: PROMPT,
        send: 'for i in $(seq 1 31); do md5sum /bin/busybox > /dev/null; sleep 2; done; echo LOOP-$((1+1))\n',
      },
      { waitFor: /LOOP-2/ },
      { waitFor: PROMPT, send: 'poweroff -f\n' },
    ],
  );
  if (rec.status !== 0) throw new Error(`recording failed: ${rec.stderr}`);
  const parsed = readRecording(new Uint8Array(readFileSync(file)));
  const total = parsed.events.lastIcount ?? 0;

  const quiet = { verify: true, log: () => {}, stdout: () => {} };
  const { vm, replayer } = openReplay(file, quiet);
  replayer.enableCheckpoints({ interval: 20_000_000, memoryBudget: 512 << 20 });
  let t0 = performance.now();
  const end = replayer.runTo(Number.MAX_SAFE_INTEGER);
  const firstPass = (performance.now() - t0) / 1000;
  if (end.state !== 'done') throw new Error(`replay did not finish: ${JSON.stringify(end)}`);
  const guestSeconds = vm.now() / 1e7;
  console.log(
    `tt      recording: ${fmt(guestSeconds, 1)} guest-s, ${fmt(total / 1e6)} M instructions; replay with checkpoints ${fmt(firstPass, 2)} s`,
  );
  console.log(
    `tt      checkpoints: ${replayer.checkpointCount}, holding ${fmt(replayer.checkpointBytes / 1048576, 1)} MiB of RAM copies (budget 512 MiB)`,
  );

  // The icounts sought are random but repeatable: the seed is printed.
  const rng = prng('bench time-travel');
  console.log(`tt      random icounts from VMRS_TEST_SEED=${rng.seed}`);
  const seeks: number[] = [];
  for (let i = 0; i < 20; i++) {
    const at = rng.int(total);
    t0 = performance.now();
    const st = replayer.seek(at);
    seeks.push((performance.now() - t0) / 1000);
    if (st.state !== 'paused') throw new Error(`seek to ${at}: ${JSON.stringify(st)}`);
  }
  console.log(`tt      seek to a random icount (20 seeks): ${stats(seeks)} (target < 2 s)`);

  const target = new ReplayTarget(vm, replayer);
  const rsteps: number[] = [];
  for (let i = 0; i < 20; i++) {
    replayer.seek(rng.int(total));
    t0 = performance.now();
    await target.reverseStep();
    rsteps.push((performance.now() - t0) / 1000);
  }
  console.log(`tt      reverse-stepi from a random icount (20): ${stats(rsteps)} (target < 0.3 s)`);

  replayer.seek(Math.floor(total / 2));
  const header = {
    formatVersion: 1,
    vmrsVersion: 'bench',
    createdUnixMs: 0,
    machine: parsed.header.machine,
    bios: parsed.header.bios,
    kernel: parsed.header.kernel,
    initrd: parsed.header.initrd,
    devices: parsed.header.devices,
  };
  t0 = performance.now();
  const snap = captureSnapshot(vm, header);
  const save = (performance.now() - t0) / 1000;
  const other = openReplay(file, quiet);
  t0 = performance.now();
  restoreSnapshot(other.vm, readSnapshot(snap));
  const load = (performance.now() - t0) / 1000;
  console.log(
    `tt      snapshot of a ${vm.bus.ram8.length >> 20} MiB guest mid-recording: ${fmt(snap.length / 1048576, 1)} MiB, saved in ${fmt(save, 2)} s, restored in ${fmt(load, 2)} s`,
  );
}
