/**
 * passt, which vmrs starts for `--net user`, ends with vmrs however vmrs
 * ends: after a poweroff, and after `kill -9` of vmrs (nothing in vmrs runs
 * then; passt alone would wait for a new client forever, one process and
 * one socket folder leaked per killed recorder).
 */
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { needTools } from '../helpers/tools.js';
import { waitUntil } from '../helpers/wait.js';

/** Processes below `root` (children, grandchildren...) as pid → command line. */
function descendants(root: number): Map<number, string> {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      // The ppid follows the command name in parentheses, which may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
      cmd.set(Number(d), readFileSync(`/proc/${d}/cmdline`, 'latin1').replace(/\0/g, ' '));
    } catch {
      // gone meanwhile
    }
  }
  const out = new Map<number, string>();
  for (const [pid] of parent) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p))
      if (p === root) {
        out.set(pid, cmd.get(pid) ?? '');
        break;
      }
  }
  return out;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

for (const end of ['poweroff', 'kill -9'] as const)
  test(`passt ends with vmrs (${end})`, async (t) => {
    if (!needTools(t, 'passt')) return;
    const vm = spawn(process.execPath, [VMRS_BIN, 'run', '-q', '--net', 'user'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    vm.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    const exited = new Promise<void>((r) => vm.on('exit', () => r()));
    try {
      let passt: [number, string] | undefined;
      await waitUntil(() => {
        passt = [...descendants(vm.pid!)].find(([, c]) => /\bpasst -f\b/.test(c));
        return passt !== undefined;
      }, 'vmrs to start passt');
      const [pid, cmd] = passt!;
      const dir = /-s (\S+)\/passt\.socket/.exec(cmd)![1];
      await waitUntil(() => out.includes('~ # '), 'the shell prompt', 300_000);
      if (end === 'poweroff') vm.stdin.write('poweroff -f\n');
      else vm.kill('SIGKILL');
      await exited;
      await waitUntil(() => !alive(pid), `passt (pid ${pid}) to end after ${end}`, 10_000);
      await waitUntil(() => !existsSync(dir), `passt's folder ${dir} to be removed`, 10_000);
    } finally {
      vm.kill('SIGKILL');
    }
  });
