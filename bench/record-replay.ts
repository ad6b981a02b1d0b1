/**
 * Record/replay figures on the default guest, through the `vmrs` command:
 *   - record overhead against `vmrs run` (boot + md5sum of 4 MiB + poweroff), with the
 *     default checkpoints, with none, and with one well before the end,
 *   - replay speed against record on the same workload,
 *   - log bytes per guest-second: a boot, an idle shell, a network transfer,
 *   - idle replay speed against real time,
 *   - QEMU's own record/replay (-icount rr=record) on the same boot, where installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng } from '../test/helpers/seed.js';
import { PROMPT, VMRS, fmt, median, runVmrs, type Step } from './cli-session.js';
import { QEMU_BINARY, qemuAvailable, qemuVirtArgs } from '../src/host/qemu.js';
import { ensureDefaultGuest } from '../src/host/default-guest.js';
import { hasPasst, hostUrlFromGuest, servePayload } from '../test/helpers/host-tools.js';
import { openReplay } from '../src/cli/open-replay.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-bench-rr-'));
const WORKLOAD = 'dd if=/dev/zero bs=64k count=64 2>/dev/null | md5sum; echo WORKLOAD-$((40+2))\n';

const workloadSteps: Step[] = [
  { waitFor: PROMPT, send: WORKLOAD, mark: 'boot' },
  { waitFor: /WORKLOAD-42/ },
  { waitFor: PROMPT, send: 'poweroff -f\n', mark: 'workload' },
];

interface Info {
  fileBytes: number;
  guestSeconds: number;
  instructions: number;
  events: Record<string, { count: number; bytes: number }>;
}

function inspect(file: string): Info {
  const r = spawnSync(VMRS, ['inspect', '--json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`inspect failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Info;
}

/** Rounds of run, record and replay, interleaved so that the machine's drift hits all three alike. */
const ROUNDS = 6;
/** Student's t for a two-sided 95 % interval, by degrees of freedom. */
const T95: Record<number, number> = { 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365 };

async function overhead(): Promise<void> {
  const file = join(dir, 'workload.vmrs');
  const run: number[] = [];
  const rec: number[] = [];
  const bare: number[] = [];
  const mid: number[] = [];
  const rep: number[] = [];
  // What the recorder says its digests and checkpoint captures cost the hart's thread (ms):
  // figures that the host's noise does not drown, beside the wall times.
  const digestMs: number[] = [];
  const captureMs: number[] = [];
  const record = async (schedule: string[]): Promise<number> => {
    const r = await runVmrs(['record', ...schedule, '-o', file], workloadSteps);
    if (r.status !== 0) throw new Error(`record failed (${r.status}): ${r.stderr}`);
    if (schedule.length === 0) {
      const said =
        /state digests, (\d+) ms to take\)(?: and \d+ checkpoints \([\d.]+ MiB, (\d+) ms to capture\))?/.exec(
          r.stderr,
        );
      if (!said) throw new Error(`record did not say what it cost: ${r.stderr}`);
      digestMs.push(Number(said[1]));
      captureMs.push(Number(said[2] ?? 0));
    }
    return r.wallSeconds;
  };
  for (let i = 0; i < ROUNDS; i++) {
    run.push((await runVmrs(['run', '-q'], workloadSteps)).wallSeconds);
    // Without checkpoints too: what the recording itself costs, apart from the
    // checkpoint the default schedule takes at 200 M instructions.
    bare.push(await record(['--checkpoint-every', '0']));
    // One checkpoint well before the end (at 120 M of about 225 M): its compression overlaps
    // the guest, where the default schedule's, at 200 M, is still running at power-off.
    mid.push(await record(['--checkpoint-every', '120M']));
    // Last, so that the file replayed next (and inspected) has the default schedule.
    rec.push(await record([]));
    const p = await runVmrs(['replay', '-q', file]);
    if (p.status !== 0) throw new Error(`replay of ${file} failed (${p.status}): ${p.stderr}`);
    rep.push(p.wallSeconds);
  }
  const cold = await runVmrs(['run', '-q'], workloadSteps, 900_000, {
    ...process.env,
    VMRS_NO_WARMUP: '1',
  });
  const info = inspect(file);
  const spread = (xs: number[]) => `${fmt(Math.min(...xs), 2)}-${fmt(Math.max(...xs), 2)}`;
  console.log(
    `run     boot+workload: median ${fmt(median(run), 2)} s wall of ${ROUNDS} (${spread(run)}; ${fmt(info.instructions / 1e6)} M instructions)`,
  );
  console.log(
    `run     without the interpreter warm-up (VMRS_NO_WARMUP=1): ${fmt(cold.wallSeconds, 2)} s wall`,
  );
  console.log(
    `record  boot+workload: median ${fmt(median(rec), 2)} s (${spread(rec)}), overhead ${fmt((median(rec) / median(run) - 1) * 100)} % (target <= 2 %)`,
  );
  console.log(
    `record  the hart's thread, by the recorder's own count: state digests median ${fmt(median(digestMs))} ms (${Math.min(...digestMs)}-${Math.max(...digestMs)}), checkpoint capture median ${fmt(median(captureMs))} ms (${Math.min(...captureMs)}-${Math.max(...captureMs)}); together ${fmt(((median(digestMs) + median(captureMs)) / 1000 / median(run)) * 100)} % of run's wall time`,
  );
  console.log(
    `record  without checkpoints (--checkpoint-every 0): median ${fmt(median(bare), 2)} s (${spread(bare)}), overhead ${fmt((median(bare) / median(run) - 1) * 100)} %`,
  );
  console.log(
    `record  one checkpoint mid-session (--checkpoint-every 120M): median ${fmt(median(mid), 2)} s (${spread(mid)}), overhead ${fmt((median(mid) / median(run) - 1) * 100)} %`,
  );
  // Replay time over record time, round by round: its mean with a 95 % interval (Student's t).
  const ratios = rep.map((p, i) => p / rec[i]);
  const mean = ratios.reduce((a, b) => a + b, 0) / ROUNDS;
  const sd = Math.sqrt(ratios.reduce((a, b) => a + (b - mean) ** 2, 0) / (ROUNDS - 1));
  const half = (T95[ROUNDS - 1] * sd) / Math.sqrt(ROUNDS);
  console.log(
    `replay  boot+workload: median ${fmt(median(rep), 2)} s (${spread(rep)}), ${fmt(median(rec) / median(rep), 2)}x the speed of record`,
  );
  console.log(
    `replay  time / record time, round by round: ${ratios.map((x) => fmt(x, 2)).join(' ')}; mean ${fmt(mean, 3)}, 95 % interval ${fmt(mean - half, 3)}-${fmt(mean + half, 3)} (target: replay not slower, i.e. the interval reaches 1 or below)`,
  );
}

/**
 * Replay `file` in this process and time the part after the shell prompt
 * appears: a first replay finds the prompt's icount, a second runs to it
 * and times the rest (one step can take a whole idle jump).
 */
export function idleReplaySeconds(file: string): number {
  let text = '';
  let promptAt = -1;
  const first = openReplay(file, {
    verify: false,
    log: () => {},
    stdout: (b) => {
      text = (text + String.fromCharCode(b)).slice(-8);
      if (promptAt < 0 && PROMPT.test(text)) promptAt = first.vm.cpu.icount;
    },
  });
  while (first.replayer.step(50_000_000).state === 'running');
  if (promptAt < 0) throw new Error(`${file}: no shell prompt in the replay`);
  const { replayer } = openReplay(file, { verify: true, log: () => {}, stdout: () => {} });
  if (replayer.runTo(promptAt).state !== 'paused') throw new Error(`${file}: replay ended early`);
  const t0 = performance.now();
  let st = replayer.step(50_000_000);
  while (st.state === 'running') st = replayer.step(50_000_000);
  if (st.state !== 'done') throw new Error(`replay of ${file} ended ${st.state}`);
  return (performance.now() - t0) / 1000;
}

/**
 * The log alone: checkpoints (the default schedule takes one at 200 M
 * instructions or 60 guest-s) are copies of RAM, not log; the network
 * transfer's would hold the 10 MiB moved.
 */
const LOG_ONLY = ['--checkpoint-every', '0'];

async function logRates(): Promise<void> {
  // A boot alone; then the same boot followed by an idle shell.
  const bootFile = join(dir, 'boot.vmrs');
  const boot = await runVmrs(
    ['record', '-q', ...LOG_ONLY, '-o', bootFile],
    [{ waitFor: PROMPT, send: 'poweroff -f\n' }],
  );
  if (boot.status !== 0) throw new Error(`boot recording failed: ${boot.stderr}`);
  const b = inspect(bootFile);
  console.log(
    `log     boot: ${b.fileBytes} bytes for ${fmt(b.guestSeconds, 2)} guest-s = ${fmt(b.fileBytes / b.guestSeconds, 0)} B/guest-s`,
  );
  const idleFile = join(dir, 'idle.vmrs');
  const idleReal = 30;
  await runVmrs(
    ['record', '-q', ...LOG_ONLY, '-o', idleFile],
    [{ waitFor: PROMPT, send: 'poweroff -f\n', pauseMs: idleReal * 1000 }],
  );
  const i = inspect(idleFile);
  const idleSecs = i.guestSeconds - b.guestSeconds;
  console.log(
    `log     idle shell: ${i.fileBytes - b.fileBytes} bytes for ${fmt(idleSecs, 1)} guest-s = ${fmt((i.fileBytes - b.fileBytes) / idleSecs, 0)} B/guest-s`,
  );
  const tIdle = idleReplaySeconds(idleFile);
  console.log(
    `replay  idle shell: ${fmt(idleSecs, 1)} guest-s replayed in ${fmt(tIdle, 3)} s = ${fmt(idleSecs / Math.max(tIdle, 0.001), 0)}x real time (target >= 50x)`,
  );

  // A network transfer: 10 MB from a host server to the guest.
  if (!hasPasst()) {
    console.log('log     network transfer: passt not installed, skipped');
    return;
  }
  const server = await servePayload(prng('bench record payload').bytes(10 << 20));
  const port = server.port;
  try {
    const netBoot = join(dir, 'net-boot.vmrs');
    await runVmrs(
      ['record', '-q', ...LOG_ONLY, '--net', 'user', '-o', netBoot],
      [{ waitFor: PROMPT, send: 'poweroff -f\n' }],
    );
    const netFile = join(dir, 'net.vmrs');
    const r = await runVmrs(
      ['record', '-q', ...LOG_ONLY, '--net', 'user', '-o', netFile],
      [
        {
          waitFor: PROMPT,
          send: `wget -q -O - ${hostUrlFromGuest(port)} | md5sum; echo NET-$((1+1))\n`,
          mark: 'start',
        },
        { waitFor: /NET-2/, mark: 'done' },
        { waitFor: PROMPT, send: 'poweroff -f\n' },
      ],
    );
    const nb = inspect(netBoot);
    const n = inspect(netFile);
    const secs = n.guestSeconds - nb.guestSeconds;
    console.log(
      `log     network transfer (10 MiB in): ${n.fileBytes - nb.fileBytes} bytes for ${fmt(secs, 2)} guest-s = ${fmt((n.fileBytes - nb.fileBytes) / secs / 1e6, 2)} MB/guest-s ` +
        `(${fmt((n.fileBytes - nb.fileBytes) / (10 << 20), 2)} log bytes per byte moved; ${fmt(10 / (r.marks.done - r.marks.start), 2)} MiB/s wall while recording)`,
    );
  } finally {
    server.close();
  }
}

/** QEMU arguments for rr: the serial port on stdio without the monitor mux (rr=replay fails with -nographic). */
function qemuRrArgs(kernel: string, initrd: string, mode: string, rrfile: string): string[] {
  const args = qemuVirtArgs(kernel, initrd).filter((a) => a !== '-nographic');
  return [
    ...args,
    '-display',
    'none',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-icount',
    `shift=0,rr=${mode},rrfile=${rrfile}`,
  ];
}

export async function qemuRecord(): Promise<void> {
  if (!qemuAvailable()) {
    console.log('qemu    (qemu-system-riscv64 not installed: rr comparison skipped)');
    return;
  }
  const g = await ensureDefaultGuest({});
  const rrfile = join(dir, 'qemu-boot.rr');
  // QEMU logs how many bytes each console write got through; a pipe read by this process
  // would make that timing-dependent and the replay fail, so its output goes to a file.
  const outFile = join(dir, 'qemu-record.out');
  const outFd = openSync(outFile, 'w');
  const t0 = performance.now();
  const child = spawn(QEMU_BINARY, qemuRrArgs(g.kernel, g.initrd, 'record', rrfile), {
    stdio: ['pipe', outFd, 'pipe'],
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  let sent = false;
  while (child.exitCode === null && performance.now() - t0 < 600_000) {
    await new Promise((r) => setTimeout(r, 200));
    if (!sent && /[#$] $/.test(readFileSync(outFile, 'latin1'))) {
      sent = true;
      child.stdin!.write('poweroff -f\n');
    }
  }
  if (child.exitCode === null) child.kill('SIGKILL');
  await exited;
  closeSync(outFd);
  const text = readFileSync(outFile, 'latin1');
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `qemu    boot under -icount shift=0,rr=record: log ${statSync(rrfile).size} bytes, ${fmt(wall, 2)} s wall`,
  );
  const r0 = performance.now();
  const rep = spawnSync(QEMU_BINARY, qemuRrArgs(g.kernel, g.initrd, 'replay', rrfile), {
    timeout: 600_000,
    input: '',
    encoding: 'latin1',
  });
  console.log(
    `qemu    rr=replay of that boot: ${rep.status === 0 && rep.stdout === text ? 'same output' : `status ${rep.status}, output ${rep.stdout === text ? 'same' : 'differs'}`}, ${fmt((performance.now() - r0) / 1000, 2)} s wall`,
  );
}

export async function benchRecordReplay(): Promise<void> {
  await overhead();
  await logRates();
  await qemuRecord();
}
