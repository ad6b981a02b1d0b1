/**
 * `vmrs trace --syscalls` on a recorded shell session whose commands are
 * known: the calls they must make are there, with their arguments, results,
 * pids and command names; the filters keep what they name; -o writes the
 * same lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { recordSession, vmrsOn } from '../helpers/recording.js';
import { needTools } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-trace-'));
const trace = (file: string, extra: string[]) => vmrsOn('trace', file, ['--syscalls', ...extra]);

interface Line {
  icount: number;
  pid: number;
  comm: string;
  name: string;
  args: string;
  result: string;
}

function parse(out: string): Line[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^\s*(\d+) (\d+|\?) (\S+) (\w+)\((.*)\) = (.*)$/.exec(l);
      assert.ok(m, `not a trace line: ${l}`);
      return {
        icount: Number(m[1]),
        pid: Number(m[2]),
        comm: m[3],
        name: m[4],
        args: m[5],
        result: m[6],
      };
    });
}

let file: string | undefined;
async function recording(): Promise<string> {
  file ??= (
    await recordSession(join(dir, 'session.vmrs'), [], async (vm) => {
      // The shell waits at its prompt for at least this long: an idle wait of known length for
      // the Perfetto test (without it the waits are the pipe's round trips, which can add up to
      // less than a millisecond on a fast moment of the host).
      await new Promise((r) => setTimeout(r, 100));
      await vm.shell('echo trace-$((6*7)) > /tmp/t; cat /tmp/t; echo shown-$((6*7))');
    })
  ).file;
  return file;
}

test('the system calls of a known session: the program run, the file created and copied, the text echoed', async () => {
  const rec = await recording();
  const r = trace(rec, []);
  assert.equal(r.status, 0, r.stderr);
  const lines = parse(r.stdout);
  assert.match(r.stderr, new RegExp(`${lines.length} system calls traced`));

  // The shell runs cat by path: an execve from a child of the shell, which then is cat.
  const exec = lines.find(
    (l) => l.name === 'execve' && /"\/bin\/cat", \["cat", "\/tmp\/t"\]/.test(l.args),
  );
  assert.ok(exec, 'no execve of /bin/cat');
  assert.equal(exec.result, '0');
  assert.equal(exec.comm, 'sh');
  assert.ok(exec.pid > 1);
  const cat = lines.filter((l) => l.pid === exec.pid && l.icount > exec.icount);
  assert.ok(
    cat.length > 0 && cat.every((l) => l.comm === 'cat'),
    'after the execve the task is cat',
  );

  // The shell's redirection creates the file; cat opens it to read, reads the text, writes it out.
  const create = lines.find(
    (l) =>
      l.name === 'openat' &&
      l.comm === 'sh' &&
      /"\/tmp\/t", O_WRONLY\|O_CREAT\|O_TRUNC, 0666/.test(l.args),
  );
  assert.ok(create, 'no openat creating /tmp/t');
  assert.match(create.result, /^\d+$/);
  const open = cat.find((l) => l.name === 'openat' && /"\/tmp\/t", O_RDONLY/.test(l.args));
  assert.ok(open, 'cat did not open /tmp/t');
  const fd = open.result;
  assert.ok(Number(fd) >= 3);
  // busybox cat copies with sendfile: 9 bytes from the file to standard output.
  assert.ok(
    cat.some((l) => l.name === 'sendfile' && l.args.startsWith(`1, ${fd}, `) && l.result === '9'),
  );
  // The shell writes the echoed text to the console itself.
  const echo = lines.find((l) => l.name === 'write' && l.args === '1, "shown-42\\n", 9');
  assert.ok(echo, 'no write of the echoed text');
  assert.equal(echo.result, '9');
  assert.equal(echo.comm, 'sh');
  assert.ok(cat.some((l) => l.name === 'exit_group' && l.result === '?'));
  // Failed calls show their errno.
  assert.ok(lines.some((l) => /^-1 E[A-Z]+$/.test(l.result)));
});

test('filters: --pid, --comm and --syscall keep what they name; -o writes the same lines', async () => {
  const rec = await recording();
  const all = parse(trace(rec, ['-q']).stdout);
  const catPid = all.find((l) => l.comm === 'cat')!.pid;

  const byPid = parse(trace(rec, ['-q', '--pid', String(catPid)]).stdout);
  assert.deepEqual(
    byPid,
    all.filter((l) => l.pid === catPid),
  );
  const byComm = parse(trace(rec, ['-q', '--comm', 'cat']).stdout);
  assert.deepEqual(
    byComm,
    all.filter((l) => l.comm === 'cat'),
  );
  const writes = parse(trace(rec, ['-q', '--syscall', 'write,execve']).stdout);
  assert.deepEqual(
    writes,
    all.filter((l) => l.name === 'write' || l.name === 'execve'),
  );

  const out = join(dir, 'trace.txt');
  const r = trace(rec, ['-q', '-o', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.deepEqual(parse(readFileSync(out, 'latin1')), all);

  const bad = trace(rec, ['--syscall', 'no_such_call']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no system call named no_such_call/);
});

test("--jobs: segments traced apart give one replay's lines, calls waiting across checkpoints included; DWARF and learned task layouts agree", async () => {
  // Checkpoints every 25M instructions or guest second: the shell waits in read() across some.
  const { file } = await recordSession(
    join(dir, 'segments.vmrs'),
    ['--checkpoint-every', '25M,1s'],
    async (vm) => {
      await vm.shell('for i in 1 2 3; do echo seg-$i > /tmp/s$i; cat /tmp/s$i; done');
      await new Promise((r) => setTimeout(r, 2500));
      await vm.shell('ls /tmp; sleep 1; echo after-sleep');
    },
  );
  const one = trace(file, ['--jobs', '1']);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stderr, /task_struct layout from the DWARF of .*vmlinux/);
  const lines = parse(one.stdout);
  assert.ok(lines.some((l) => l.name === 'write' && l.args === '1, "seg-3\\n", 6'));
  assert.ok(lines.some((l) => l.name === 'nanosleep' || l.name === 'clock_nanosleep'));

  const many = trace(file, ['--jobs', '3']);
  assert.equal(many.status, 0, many.stderr);
  const segs = Number(/tracing (\d+) segments, 3 at a time/.exec(many.stderr)?.[1]);
  assert.ok(segs >= 4, many.stderr);
  const crossed = Number(/(\d+) call\(s\) waited across a checkpoint/.exec(many.stderr)?.[1]);
  assert.ok(crossed > 0, many.stderr);
  assert.equal(many.stdout, one.stdout, 'the same lines in the same order');
  const y1 = trace(file, ['-q', '-y', '--jobs', '1']);
  assert.equal(trace(file, ['-q', '-y', '--jobs', '3']).stdout, y1.stdout, 'with -y too');

  // Without DWARF (a kernel file that is no ELF given as vmlinux) the layout is learned: the same names.
  const kernel = /^\s+kernel\s+(\S+) \(/m.exec(vmrsOn('inspect', file).stdout)![1];
  const learned = trace(file, ['--jobs', '1', '--vmlinux', kernel]);
  assert.equal(learned.status, 0, learned.stderr);
  assert.doesNotMatch(learned.stderr, /layout from the DWARF/);
  assert.equal(learned.stdout, one.stdout);
});

test("-y names what file descriptors refer to, from the kernel's structures (DWARF): files, the console, pipes", async () => {
  const rec = await recording();
  const plain = trace(rec, ['-q']);
  const y = trace(rec, ['-q', '-y']);
  assert.equal(y.status, 0, y.stderr);
  // The same calls; only the names are added.
  assert.equal(y.stdout.replace(/<[^<>\n]*>/g, ''), plain.stdout);
  const lines = parse(y.stdout);
  const open = lines.find(
    (l) => l.comm === 'cat' && l.name === 'openat' && /"\/tmp\/t"/.test(l.args),
  );
  assert.ok(open, y.stdout);
  const fd = /^(\d+)<\/tmp\/t>$/.exec(open.result)?.[1];
  assert.ok(fd, open.result);
  assert.ok(
    lines.some(
      (l) =>
        l.name === 'sendfile' && l.args.startsWith(`1</dev/`) && l.args.includes(`${fd}</tmp/t>`),
    ),
    'cat copies /tmp/t to the console',
  );
  assert.ok(
    lines.some((l) => /\d+<pipe:\[\d+\]>/.test(l.args)),
    'a pipe (the init script)',
  );
  // Without DWARF there is nothing to read them with: said so.
  const kernel = /^\s+kernel\s+(\S+) \(/m.exec(vmrsOn('inspect', rec).stdout)![1];
  const none = trace(rec, ['-q', '-y', '--vmlinux', kernel]);
  assert.notEqual(none.status, 0);
  assert.match(
    none.stderr,
    /-y names files from the kernel's structures: it needs a vmlinux with DWARF/,
  );
});

test('--perfetto writes a trace-event file: a track per process with its system calls, traps, console lines, a rate counter', async () => {
  const rec = await recording();
  const json = join(dir, 'trace.json');
  const r = trace(rec, ['-q', '--perfetto', json]);
  assert.equal(r.status, 0, r.stderr);
  const plain = trace(rec, ['-q']);
  assert.equal(r.stdout, plain.stdout, 'the text trace is the same with --perfetto');
  const events = JSON.parse(readFileSync(json, 'utf8')) as {
    ph: string;
    cat?: string;
    name: string;
    pid: number;
    tid?: number;
    ts?: number;
    dur?: number;
    args?: Record<string, unknown>;
  }[];
  const cat = parse(plain.stdout).find((l) => l.comm === 'cat')!;
  // The process is named, and its calls are slices on its track, in the trace's order of returns.
  assert.ok(
    events.some(
      (e) =>
        e.ph === 'M' &&
        e.name === 'process_name' &&
        e.pid === cat.pid &&
        e.args?.name === `cat (${cat.pid})`,
    ),
  );
  const slices = events.filter((e) => e.ph === 'X' && e.cat === 'syscall' && e.pid === cat.pid);
  assert.ok(slices.some((e) => e.name === 'openat' && String(e.args?.call).includes('"/tmp/t"')));
  assert.ok(slices.every((e) => e.tid === cat.pid && e.ts! > 0 && e.dur! >= 0));
  assert.equal(
    events.filter((e) => e.cat === 'syscall').length,
    parse(plain.stdout).length,
    'one slice per call',
  );
  // The kernel's traps and interrupts, the console's lines, the instruction rate.
  assert.ok(events.some((e) => e.ph === 'X' && e.cat === 'trap' && e.name === 'timer-s'));
  assert.ok(events.some((e) => e.ph === 'i' && e.cat === 'console' && e.args?.text === 'shown-42'));
  // What was typed enters as input instants.
  const typed = events
    .filter((e) => e.ph === 'i' && e.cat === 'console' && e.tid === 3)
    .map((e) => String(e.args?.text))
    .join('');
  assert.ok(typed.includes('cat /tmp/t'), typed);
  // The guest's idle waits (the shell waiting for typed input) on their own track.
  const idle = events.filter((e) => e.ph === 'X' && e.cat === 'idle');
  assert.ok(idle.length > 0 && idle.every((e) => e.dur! >= 0 && e.tid === 5));
  // At least the 100 ms the session paused at the prompt before typing (recording() above).
  assert.ok(idle.reduce((a, e) => a + e.dur!, 0) > 50_000, 'waits add up to more than 50 ms');
  const rate = events.filter((e) => e.ph === 'C');
  assert.ok(rate.length > 10 && rate.every((e) => Number(e.args?.instructions) > 0));
});

test('a network download: the socket, the connect to the server with its address, the request sent; frames and disk requests in Perfetto', async (t) => {
  if (!needTools(t, 'passt')) return;
  const server = await servePayload('payload-from-the-host\n');
  const img = makeExt2(join(dir, 'net-disk.img'), 8);
  let file: string;
  try {
    ({ file } = await recordSession(
      join(dir, 'net.vmrs'),
      ['--net', 'user', '--drive', `file=${img}`],
      async (vm) => {
        const got = await vm.shell(`wget -q -O - ${hostUrlFromGuest(server.port)} | tee /mnt/got`);
        assert.match(got, /payload-from-the-host/);
        await vm.shell('sync');
      },
    ));
  } finally {
    server.close();
  }
  const r = trace(file, ['-q', '--comm', 'wget']);
  assert.equal(r.status, 0, r.stderr);
  const lines = parse(r.stdout);
  const sock = lines.find((l) => l.name === 'socket' && l.args.startsWith('2, '));
  assert.ok(sock, `no AF_INET socket:\n${r.stdout}`);
  const fd = sock.result;
  const connect = lines.find((l) => l.name === 'connect' && l.args.startsWith(`${fd}, `));
  assert.ok(connect, 'no connect');
  assert.match(
    connect.args,
    new RegExp(
      `sa_family=AF_INET, sin_port=htons\\(${server.port}\\), sin_addr=inet_addr\\("\\d+\\.\\d+\\.\\d+\\.\\d+"\\)`,
    ),
  );
  // The HTTP request goes out on that socket (busybox wget writes it with write or sendto).
  const sent = lines.find(
    (l) => (l.name === 'write' || l.name === 'sendto') && l.args.startsWith(`${fd}, "GET /`),
  );
  assert.ok(sent, `no request sent on fd ${fd}:\n${r.stdout}`);
  assert.ok(Number(sent.result) > 0);

  // In the Perfetto file the frames the guest sent are instants too: TCP to the server's address.
  const addr = /inet_addr\("([\d.]+)"\)/.exec(connect.args)![1];
  const json = join(dir, 'net.json');
  const p = trace(file, ['-q', '--perfetto', json]);
  assert.equal(p.status, 0, p.stderr);
  const events = JSON.parse(readFileSync(json, 'utf8')) as {
    ph?: string;
    cat?: string;
    name?: string;
    tid?: number;
    args?: Record<string, unknown>;
  }[];
  const out = events.filter((e) => e.cat === 'net-frame-out');
  assert.ok(
    out.some((e) => e.args?.protocol === 'tcp' && e.args?.to === addr),
    JSON.stringify(out.slice(0, 5)),
  );
  // Named as a person reads them: the SYN to the server's address and port.
  assert.ok(
    out.some((e) => new RegExp(`^frame out: TCP \\S+ → ${addr}:\\d+ \\[S\\]`).test(String(e.name))),
    out.map((e) => e.name).join('; '),
  );
  // The disk's requests on their own track: reads at the mount, the file written by sync.
  const disk = events.filter((e) => e.cat === 'disk');
  assert.ok(disk.length > 0 && disk.every((e) => e.ph === 'i' && e.tid === 6));
  assert.ok(disk.some((e) => /^disk 0: read \d/.test(String(e.name))));
  assert.ok(
    disk.some((e) => /^disk 0: write \d/.test(String(e.name)) && e.args?.status === 0),
    disk.map((e) => e.name).join('; '),
  );
  assert.ok(
    events.some((e) => e.cat === 'net-frame'),
    'frames in',
  );
});
