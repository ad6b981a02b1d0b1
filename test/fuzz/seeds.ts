/**
 * Real files and packets for the fuzzers to mutate, made by vmrs itself in a
 * scratch directory (nothing big is checked in):
 *
 * - a bare-metal echo program (test/fuzz/src/echo.S, built with the cross
 *   compiler), and a recording of it typed at in several pieces, with its
 *   images and a disk embedded, an rng and an hvc device, digests every
 *   2000 instructions;
 * - a snapshot taken in a replay of that recording, half-way;
 * - ELF files: the echo program, OpenSBI's fw_dynamic.elf and the default
 *   guest's vmlinux (when they are there);
 * - the packets gdb-multiarch sends while debugging a replay of the
 *   recording (read from the stub's trace).
 *
 * A tool these need (cross compiler, gdb-multiarch) that is missing fails
 * the seeding: the fuzzers never run on made-up seeds instead.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, VMRS_BIN } from '../helpers/guest-session.js';
import { cacheRoot } from '../../src/host/default-guest.js';

export interface Seeds {
  dir: string;
  recording: Uint8Array;
  recordingPath: string;
  snapshot: Uint8Array;
  elves: { name: string; bytes: Uint8Array }[];
  /** Packet bodies (unescaped) as gdb-multiarch sent them. */
  packets: string[];
}

const SRC = join(REPO_ROOT, 'test/fuzz/src/echo.S');
const LINK = join(REPO_ROOT, 'test/isa/src/link.ld');

function vmrs(args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(process.execPath, [VMRS_BIN, ...args], {
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  if (r.status !== 0)
    throw new Error(`vmrs ${args.join(' ')}: status ${r.status}: ${r.stderr.slice(-600)}`);
  return r.stdout;
}

/** Record the echo program, typing at it a piece at a time (each piece once the last is echoed). */
async function recordEcho(dir: string, elf: string): Promise<string> {
  const file = join(dir, 'echo.vmrs');
  const disk = join(dir, 'disk.img');
  writeFileSync(
    disk,
    new Uint8Array(64 << 10).map((_, i) => i * 7),
  );
  const child = spawn(
    process.execPath,
    [
      VMRS_BIN,
      'record',
      '-q',
      '-o',
      file,
      '--bios',
      'none',
      '--kernel',
      elf,
      '-m',
      '4M',
      '--digest-interval',
      '2000',
      '--embed',
      '--rng',
      '--drive',
      `file=${disk},snapshot=on`,
      '--hvc',
      `file=${join(dir, 'hvc.log')}`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const waitFor = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (out.includes(text)) {
          child.stdout.off('data', onData);
          resolve();
        }
      };
      const onData = (d: Buffer) => {
        out += d.toString('latin1');
        check();
      };
      child.stdout.on('data', onData);
      child.once('exit', () => reject(new Error(`recording the echo program failed: ${err}`)));
      check();
    });
  await waitFor('echo ready');
  for (const piece of ['hello', ' fuzz', 'ers\n', 'line two\n', '\x01\x7f\xff']) {
    child.stdin.write(Buffer.from(piece, 'latin1'));
    await waitFor(piece);
  }
  child.stdin.write('q');
  await waitFor('bye');
  if ((await exited) !== 0) throw new Error(`recording the echo program failed: ${err}`);
  return file;
}

/** The packets gdb-multiarch sends debugging a replay of `recording` (from VMRS_GDB_TRACE). */
async function gdbPackets(dir: string, recording: string, elf: string): Promise<string[]> {
  if (spawnSync('gdb-multiarch', ['--version']).status !== 0)
    throw new Error(
      'gdb-multiarch is needed for the GDB packet seeds (apt-get install gdb-multiarch)',
    );
  const child = spawn(
    process.execPath,
    [VMRS_BIN, 'replay', recording, '--gdb', '0', '--checkpoint-interval', '1000'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, VMRS_GDB_TRACE: '1' } },
  );
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString('latin1');
      const m = /waiting for GDB on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`vmrs replay --gdb exited: ${err}`)));
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const cmds = [
    'info registers',
    'x/4i $pc',
    'p/x $mstatus',
    'p $priv',
    'break *0x80000040',
    'continue',
    'stepi 3',
    'reverse-stepi',
    'watch *(long *)0x80001000',
    'rwatch *(char *)0x80001008',
    'awatch *(int *)0x80001010',
    'continue',
    'reverse-continue',
    'delete',
    'monitor icount',
    'monitor seek 300',
    'x/16xb 0x80000000',
    'set var $a0 = 1',
    'info all-registers',
    'continue',
  ];
  const args = ['-batch', '-nx', '-ex', `file ${elf}`, '-ex', `target remote 127.0.0.1:${port}`];
  for (const c of cmds) args.push('-ex', c);
  args.push('-ex', 'detach');
  spawnSync('gdb-multiarch', args, { stdio: 'ignore', timeout: 120_000 });
  child.kill();
  await exited;
  const packets = [...err.matchAll(/^gdb -> (.*)$/gm)].map((m) => m[1]);
  if (packets.length < 20) throw new Error(`too few GDB packets seen (${packets.length}): ${err}`);
  return packets;
}

export async function makeSeeds(dir: string): Promise<Seeds> {
  const elf = join(dir, 'echo.elf');
  try {
    execFileSync('riscv64-linux-gnu-gcc', [
      ...['-march=rv64gc', '-mabi=lp64d', '-static', '-mcmodel=medany', '-fno-PIE', '-no-pie'],
      ...['-nostdlib', '-nostartfiles', '-T', LINK, '-o', elf, SRC],
    ]);
  } catch (e) {
    throw new Error(`the cross compiler is needed for the fuzz seeds: ${(e as Error).message}`);
  }
  const recordingPath = await recordEcho(dir, elf);
  const info = JSON.parse(vmrs(['inspect', '--json', recordingPath])) as { instructions: number };
  const snap = join(dir, 'echo.snap');
  vmrs([
    'replay',
    '-q',
    recordingPath,
    '--to',
    String(Math.floor(info.instructions / 2)),
    '--save-snapshot',
    snap,
  ]);
  const elves = [{ name: 'echo.elf', bytes: new Uint8Array(readFileSync(elf)) }];
  for (const [name, path] of [
    ['fw_dynamic.elf', '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf'],
    ['vmlinux', defaultVmlinux()],
  ] as const)
    if (path && existsSync(path)) elves.push({ name, bytes: new Uint8Array(readFileSync(path)) });
  const packets = await gdbPackets(dir, recordingPath, elf);
  const elfPaths = elves.map((e, i) => {
    const path = join(dir, `seed-${i}-${e.name}`);
    writeFileSync(path, e.bytes);
    return { name: e.name, path };
  });
  writeFileSync(join(dir, 'seeds.json'), JSON.stringify({ packets, elves: elfPaths }));
  return loadSeeds(dir);
}

/** Seeds made earlier by makeSeeds in `dir` (so that fuzzing processes share one set). */
export function loadSeeds(dir: string): Seeds {
  const index = JSON.parse(readFileSync(join(dir, 'seeds.json'), 'utf8')) as {
    packets: string[];
    elves: { name: string; path: string }[];
  };
  const recordingPath = join(dir, 'echo.vmrs');
  return {
    dir,
    recording: new Uint8Array(readFileSync(recordingPath)),
    recordingPath,
    snapshot: new Uint8Array(readFileSync(join(dir, 'echo.snap'))),
    elves: index.elves.map((e) => ({ name: e.name, bytes: new Uint8Array(readFileSync(e.path)) })),
    packets: index.packets,
  };
}

/** The default guest's vmlinux if it is built (never builds it). */
function defaultVmlinux(): string | undefined {
  const root = join(cacheRoot(), 'guests');
  if (!existsSync(root)) return undefined;
  const r = spawnSync('sh', ['-c', `ls -d ${root}/default-*/vmlinux 2>/dev/null | head -1`], {
    encoding: 'utf8',
  });
  return r.stdout.trim() || undefined;
}
