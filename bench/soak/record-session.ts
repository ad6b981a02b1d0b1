/**
 * Records a soak run with the real `vmrs record`, as a user would: waits
 * for the prompt, types each command with the plan's timing (sometimes
 * while the previous one still runs), serves the host side (a payload over
 * HTTP, requests through a forwarded port, the other end of a wire), and
 * ends the session by `poweroff -f`, SIGTERM, or — in kill mode — SIGKILL.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { GuestSession } from '../../test/helpers/guest-session.js';
import { freePort, makeExt2 } from '../../test/helpers/host-tools.js';
import { Rng } from './random.js';
import type { Action, RunPlan, Typing, VmPlan } from './plan.js';
import {
  commandFor,
  hostfwdPage,
  wireCommands,
  wireSetup,
  type GuestCommand,
  type HostSide,
} from './workload.js';

const PROMPT = /[#$] $/m;
/** Safety nets against a hung guest or host (not timing assertions). */
const BOOT_LIMIT_MS = 600_000;
const COMMAND_LIMIT_MS = 300_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Recorders running now (the soak command stops them when it is stopped). */
export const liveRecorders = new Set<GuestSession>();

export interface VmRecording {
  plan: VmPlan;
  file: string;
  /** The arguments of `vmrs` that recorded it. */
  args: string[];
  output: string;
  stderr: string;
  status: number | null;
  /** What `vmrs record` should have exited with (the guest's status, or 130 for SIGTERM). */
  expectedStatus: number;
  /** Checks of the recorded session that failed (wrong output, a host request that failed...). */
  problems: string[];
  wallSeconds: number;
  killed?: KillRecord;
}

export interface KillRecord {
  phase: 'boot' | 'workload' | 'idle';
  /** ms from the start of `vmrs record` to the kill. */
  atMs: number;
  promptSeen: boolean;
  /**
   * The recording was written after the prompt reached us. The recorder
   * writes the console before it cuts a chunk, so such a write holds the
   * boot; a kill within the flush period after the prompt may not.
   */
  writtenSincePrompt: boolean;
  /** The recording's size when the kill came. */
  fileBytes: number;
  /** ms between the recording's last write and the kill. */
  lastWriteAgeMs: number;
}

/** The `vmrs` command line that records `vm` of a run in `dir`. */
export function recordArgs(
  vm: VmPlan,
  dir: string,
  hostfwdPort: number | undefined,
  file: string,
): string[] {
  const args = ['record', '-q', '-o', file, '-m', vm.memory];
  args.push('--digest-interval', String(vm.digestInterval));
  if (vm.insnsPerTick !== 10) args.push('--insns-per-tick', String(vm.insnsPerTick));
  if (vm.rng) args.push('--rng');
  if (vm.hvc === 'stdio') args.push('--hvc', 'stdio');
  if (vm.hvc === 'file') args.push('--hvc', `file=${join(dir, `${vm.name}-hvc.txt`)}`);
  const img = join(dir, `${vm.name}-disk.img`);
  if (vm.disk === 'plain') args.push('--drive', `file=${img}`);
  if (vm.disk === 'snapshot') args.push('--drive', `file=${img},snapshot=on`);
  if (vm.disk === 'overlay')
    args.push('--drive', `file=${img},overlay=${join(dir, `${vm.name}-disk.ovl`)}`);
  const wire = join(dir, 'wire.sock');
  switch (vm.net) {
    case 'user':
      args.push('--net', 'user');
      break;
    case 'user-hostfwd':
      args.push('--net', `user,hostfwd=tcp::${hostfwdPort}-:80`);
      break;
    case 'wire-listen':
    case 'wire-connect': {
      const end = vm.net === 'wire-listen' ? 'listen' : 'connect';
      const mac = vm.net === 'wire-listen' ? '52:54:00:00:00:0a' : '52:54:00:00:00:0b';
      args.push('--net', `socket,${end}=${wire},mac=${mac}`);
      // No DHCP server on a wire: the addresses are set by hand.
      args.push(
        '--append',
        `console=ttyS0 earlycon=sbi quiet vmrs.nodhcp${vm.hvc === 'stdio' ? ' console=hvc0' : ''}`,
      );
      break;
    }
  }
  if (vm.embed) args.push('--embed');
  return args;
}

/** Type `text` as the plan says: at once, key by key, or in bursts, with random gaps. */
async function typeText(s: GuestSession, text: string, t: Typing): Promise<void> {
  if (t.mode === 'paste') {
    s.type(text);
    return;
  }
  const r = new Rng(t.seed);
  for (let i = 0; i < text.length;) {
    const n = t.mode === 'keys' ? 1 : r.int(1, t.maxBurst);
    s.type(text.slice(i, i + n));
    i += n;
    await sleep(r.int(0, t.maxDelayMs));
  }
}

const marker = (tag: string, id: number) => `${tag}-${id + 1}`;
/** The line typed for `cmd`: the markers are computed by the shell, so their echo never matches. */
const markedLine = (cmd: GuestCommand, id: number) =>
  `echo B-$((${id}+1)); ${cmd.text}; echo E-$((${id}+1))\n`;

/** One machine being recorded: its process, and the workload driven into it. */
class RecordingVm {
  readonly s: GuestSession;
  readonly t0 = performance.now();
  readonly problems: string[] = [];
  promptSeen = false;
  /** Date.now() when the prompt was seen (file times are on that clock). */
  promptWallMs = NaN;
  killed?: KillRecord;

  constructor(
    readonly plan: VmPlan,
    readonly args: string[],
    readonly file: string,
    private readonly host: HostSide,
  ) {
    this.s = new GuestSession(args);
    // Keys typed at a recorder that was just killed: nothing to deliver them to.
    this.s.child.stdin.on('error', () => {});
    liveRecorders.add(this.s);
    void this.s.exited.then(() => liveRecorders.delete(this.s));
  }

  async waitPrompt(): Promise<void> {
    const early = this.plan.bootInput;
    // Typed during boot: the shell may read it once it starts, or the tty may drop it; not checked.
    let typing: Promise<void> | undefined;
    if (early)
      void sleep(early.afterMs).then(() => {
        if (!this.promptSeen && this.s.child.exitCode === null)
          typing = typeText(this.s, `echo early-$((${early.id}+1))\n`, early.typing);
      });
    await this.s.waitFor(PROMPT, BOOT_LIMIT_MS);
    this.promptSeen = true;
    this.promptWallMs = Date.now();
    // Typing key by key may still be going on: the first command's keys would interleave with it.
    if (typing) await typing;
  }

  private async waitMarker(tag: string, id: number): Promise<void> {
    await this.s.waitFor(new RegExp(`${marker(tag, id)}\\r?\\n`), COMMAND_LIMIT_MS);
  }

  /** The command's output (between its markers) matches what it should print. */
  private check(cmd: GuestCommand, id: number, what: string): string {
    const out = this.s.output;
    const b = out.lastIndexOf(marker('B', id));
    const e = out.lastIndexOf(marker('E', id));
    const got = out.slice(b, e);
    if (cmd.expect && !cmd.expect.test(got))
      this.problems.push(`${what}: expected ${cmd.expect} in ${JSON.stringify(got.slice(-400))}`);
    return got;
  }

  /** Type one command and wait for its end; returns its output. */
  async run(cmd: GuestCommand, id: number, typing: Typing, what: string): Promise<string> {
    await typeText(this.s, markedLine(cmd, id), typing);
    await this.waitMarker('B', id);
    await this.waitMarker('E', id);
    return this.check(cmd, id, what);
  }

  /** The plan's actions from `from` to `to`, with their pauses and type-ahead. */
  async actions(from = 0, to = this.plan.actions.length): Promise<void> {
    let pending: { a: Action; cmd: GuestCommand; interleaved?: boolean } | undefined;
    const finish = async () => {
      if (!pending) return;
      const { a, cmd, interleaved } = pending;
      pending = undefined;
      await this.waitMarker('E', a.id);
      // Keys typed ahead are echoed amid the command's output: only replay can judge that output.
      if (!interleaved) this.check(cmd, a.id, `${this.plan.name}: ${a.kind} ${a.n}`);
    };
    for (const a of this.plan.actions.slice(from, to)) {
      if (!a.typeAhead) await finish();
      await sleep(a.pauseMs);
      if (a.kind === 'ctrl-c') {
        await this.ctrlC(a);
        continue;
      }
      const cmd = commandFor(a, this.plan, this.host);
      // Typed while the previous command runs: the guest is busy, its tty echoes and queues it.
      if (pending) pending.interleaved = true;
      await typeText(this.s, markedLine(cmd, a.id), a.typing);
      await finish();
      await this.waitMarker('B', a.id);
      pending = { a, cmd };
    }
    await finish();
  }

  /** Interrupt a running command with ^C, then go on. */
  private async ctrlC(a: Action): Promise<void> {
    await typeText(this.s, `echo B-$((${a.id}+1)); sleep 30\n`, a.typing);
    await this.waitMarker('B', a.id);
    await sleep(a.n);
    this.s.type('\x03');
    await this.s.waitFor(PROMPT, COMMAND_LIMIT_MS);
    await typeText(this.s, `echo E-$((${a.id}+1))\n`, a.typing);
    await this.waitMarker('E', a.id);
  }

  /** End the session as planned; resolves with the exit status. */
  async end(): Promise<number | null> {
    if (this.plan.end === 'sigterm') this.s.child.kill('SIGTERM');
    else this.s.type('poweroff -f\n');
    return this.s.exited;
  }

  kill(phase: KillRecord['phase']): void {
    if (this.s.child.exitCode !== null || this.killed) return;
    let fileBytes = 0;
    let lastWriteAgeMs = NaN;
    let writtenSincePrompt = false;
    try {
      const st = statSync(this.file);
      fileBytes = st.size;
      lastWriteAgeMs = Date.now() - st.mtimeMs;
      writtenSincePrompt = st.mtimeMs > this.promptWallMs;
    } catch {
      // not created yet
    }
    this.killed = {
      phase,
      atMs: performance.now() - this.t0,
      promptSeen: this.promptSeen,
      writtenSincePrompt,
      fileBytes,
      lastWriteAgeMs,
    };
    this.s.child.kill('SIGKILL');
  }

  async result(): Promise<VmRecording> {
    const status = await this.s.exited;
    return {
      plan: this.plan,
      file: this.file,
      args: this.args,
      output: this.s.output,
      stderr: this.s.stderr,
      status,
      expectedStatus: this.plan.end === 'sigterm' ? 130 : 0,
      problems: this.problems,
      wallSeconds: (performance.now() - this.t0) / 1000,
      killed: this.killed,
    };
  }
}

/** Host requests through the forwarded port to the guest's web server, at the plan's moments. */
async function hostFetches(vm: RecordingVm, port: number): Promise<void> {
  const page = hostfwdPage(vm.plan);
  for (const [i, gap] of vm.plan.hostFetchGapsMs.entries()) {
    await sleep(gap);
    // A killed recorder has no exit code, only a signal: its forwarded port is gone.
    if (vm.killed || vm.s.child.exitCode !== null || vm.s.child.signalCode !== null) return;
    const t = performance.now();
    const when = () =>
      `request ${i + 1} at ${((t - vm.t0) / 1000).toFixed(1)} s, after ${((performance.now() - t) / 1000).toFixed(1)} s`;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(60_000) });
      const text = (await res.text()).trim();
      if (text !== page)
        vm.problems.push(`host request through hostfwd got ${JSON.stringify(text)}`);
    } catch (e) {
      if (vm.killed) return; // the kill came while the request was under way
      const cause = (e as Error & { cause?: Error }).cause;
      vm.problems.push(
        `host request through hostfwd failed: ${(e as Error).message}${cause ? ` (${cause.message})` : ''} (${when()})`,
      );
    }
  }
}

/** Actions of one machine, with the host's requests to it running alongside (hostfwd). */
async function drive(vm: RecordingVm, ports: Map<string, number>, from: number, to: number) {
  const port = ports.get(vm.plan.name);
  if (port === undefined || from > 0) return vm.actions(from, to);
  // The first action starts the guest's web server; the host's requests follow it.
  await vm.actions(0, 1);
  await Promise.all([vm.actions(1, to), hostFetches(vm, port)]);
}

/** Wire traffic between the two machines. */
async function wireTraffic(plan: RunPlan, vms: RecordingVm[]): Promise<void> {
  for (const op of plan.wire) {
    let md5: string | undefined;
    for (const [i, step] of wireCommands(op).entries()) {
      const cmd = { ...step.cmd };
      // The client must get what the server holds.
      if (op.op === 'http' && i === 1 && md5) cmd.expect = new RegExp(md5);
      const out = await vms[step.on].run(
        cmd,
        op.id + i,
        { mode: 'paste', maxDelayMs: 0, maxBurst: 0, seed: 0 },
        `wire ${op.op} on ${vms[step.on].plan.name}`,
      );
      md5 = /([0-9a-f]{32}) {2}\/wire\/blob/.exec(out)?.[1];
    }
  }
}

/**
 * Record the run's machines in `dir`: returns each one's recording and the
 * console output it printed. In kill mode the recorder is killed as planned.
 */
export async function recordRun(
  plan: RunPlan,
  dir: string,
  host: HostSide,
): Promise<VmRecording[]> {
  const ports = new Map<string, number>();
  const vms: RecordingVm[] = [];
  try {
    const starts = plan.vms.map((v, i) => {
      if (v.disk !== 'none') makeExt2(join(dir, `${v.name}-disk.img`), v.diskMiB);
      // With a wire, the ends start at the planned distance from each other.
      return i === 0 ? Math.max(0, -plan.peerStartMs) : Math.max(0, plan.peerStartMs);
    });
    const order = plan.vms.map((_, i) => i).sort((x, y) => starts[x] - starts[y]);
    const t0 = performance.now();
    for (const i of order) {
      const v = plan.vms[i];
      await sleep(starts[i] - (performance.now() - t0));
      const port = v.net === 'user-hostfwd' ? await freePort() : undefined;
      if (port !== undefined) ports.set(v.name, port);
      const file = join(dir, `${v.name}.vmrs`);
      vms[i] = new RecordingVm(v, recordArgs(v, dir, port, file), file, host);
    }
    const session = plan.kill ? killSession(plan, vms[0], ports) : fullSession(plan, vms, ports);
    try {
      await session;
    } catch (e) {
      // A guest that hung or a recorder that died: what was recorded is still checked.
      if (!vms.some((v) => v.killed)) {
        vms[0].problems.push(`session: ${(e as Error).message}`);
        for (const v of vms) v.s.kill();
      }
    }
    return await Promise.all(vms.map((v) => v.result()));
  } finally {
    for (const v of vms) v.s.kill();
  }
}

async function fullSession(plan: RunPlan, vms: RecordingVm[], ports: Map<string, number>) {
  await Promise.all(vms.map((v) => v.waitPrompt()));
  const fast: Typing = { mode: 'paste', maxDelayMs: 0, maxBurst: 0, seed: 0 };
  if (plan.wire.length) {
    await Promise.all(vms.map((v, i) => v.run(wireSetup(i), 99_000 + i, fast, 'wire setup')));
    const half = (v: RecordingVm) => v.plan.actions.length >> 1;
    await Promise.all(vms.map((v) => drive(v, ports, 0, half(v))));
    await wireTraffic(plan, vms);
    await Promise.all(vms.map((v) => drive(v, ports, half(v), v.plan.actions.length)));
    // One end stops first: the other sees its link go down, then stops.
    const first = vms[plan.firstToEnd];
    const ended = first.end();
    await sleep(plan.endGapMs);
    await Promise.all([ended, vms[1 - plan.firstToEnd].end()]);
  } else {
    await drive(vms[0], ports, 0, vms[0].plan.actions.length);
    await vms[0].end();
  }
}

async function killSession(plan: RunPlan, vm: RecordingVm, ports: Map<string, number>) {
  const k = plan.kill!;
  if (k.phase === 'boot') {
    // At the planned moment, or when the prompt shows if that comes first.
    await Promise.race([sleep(k.afterMs), vm.waitPrompt().catch(() => {})]);
    vm.kill('boot');
    return;
  }
  await vm.waitPrompt();
  if (k.phase === 'workload') {
    const work = drive(vm, ports, 0, vm.plan.actions.length).catch(() => {});
    await Promise.race([sleep(k.afterMs), work]);
    vm.kill('workload');
    return;
  }
  await drive(vm, ports, 0, Math.min(2, vm.plan.actions.length));
  await sleep(k.afterMs);
  vm.kill('idle');
}
