/** Start a vmrs command that serves GDB (`--gdb 0`) and learn its port. */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { VMRS_BIN } from './guest-session.js';

export interface GdbServer {
  port: number;
  child: ChildProcess;
  /** What vmrs has written to stderr so far. */
  err: () => string;
  /** Its exit code, once it exits. */
  exited: Promise<number | null>;
}

/** Start `vmrs ARGS` (which include `--gdb 0`) and wait for the port it serves GDB on. */
export async function serveGdb(args: string[], stdio: StdioOptions): Promise<GdbServer> {
  const child = spawn(process.execPath, [VMRS_BIN, ...args], { stdio });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /waiting for GDB on \S+:(\d+) at/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`vmrs ${args[0]} --gdb exited: ${err}`)));
  });
  return { port, child, err: () => err, exited };
}

/** As serveGdb, for `vmrs replay FILE --gdb 0`, collecting what the replay prints. */
export async function replayUnderGdb(
  file: string,
  checkpointInterval: number,
): Promise<GdbServer & { out: () => string }> {
  const s = await serveGdb(
    ['replay', file, '--gdb', '0', '--checkpoint-interval', String(checkpointInterval)],
    ['ignore', 'pipe', 'pipe'],
  );
  let out = '';
  s.child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  return { ...s, out: () => out };
}
