/**
 * Debugging a replay with Debian's gdb-multiarch in batch mode, with the
 * default guest kernel's symbols: breakpoints, registers and a variable,
 * reverse-stepi, reverse-continue to an earlier breakpoint hit, a
 * watchpoint on a kernel variable reverse-continued to its last writer,
 * read and access watchpoints, and forward execution reaching the same states again; at source
 * level (the kernel's DWARF): lines, arguments, types, next and reverse-next, finish and
 * reverse-finish, a backtrace through source. Then hostile
 * packets: error replies, never a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { checksum } from '../../src/gdb/rsp.js';
import { needTools } from '../helpers/tools.js';
import { waitUntil } from '../helpers/wait.js';
import { serveGdb } from '../helpers/gdb-serve.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-gdb-'));

let recording: string | undefined;
let vmlinux = '';
function theRecording(): string {
  if (recording) return recording;
  const paths = spawnSync(process.execPath, [VMRS_BIN, 'guest', 'build'], { encoding: 'utf8' });
  vmlinux = /^vmlinux\s+(.+)$/m.exec(paths.stdout)![1];
  const file = join(dir, 'session.vmrs');
  const r = spawnSync(process.execPath, [VMRS_BIN, 'record', '-q', '-o', file], {
    input: 'ls / > /dev/null; cat /proc/uptime; sleep 1; echo done\npoweroff -f\n',
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  recording = file;
  return file;
}

/** Start `vmrs replay --gdb 0` and return its port. */
const startStub = (file: string) =>
  serveGdb(
    ['replay', file, '--gdb', '0', '--checkpoint-interval', '10000000'],
    ['ignore', 'ignore', 'pipe'],
  );

/** Run gdb-multiarch in batch mode; returns its output split at `echo @@name` markers. */
function gdb(port: number, commands: string[]): Map<string, string> {
  const args = [
    '-batch',
    '-nx',
    '-ex',
    `file ${vmlinux}`,
    '-ex',
    `target remote 127.0.0.1:${port}`,
  ];
  for (const c of commands) args.push('-ex', c);
  args.push('-ex', 'detach');
  // One file for stdout and stderr, so monitor output (stderr) stays in order.
  const log = join(dir, `gdb-${Date.now()}.log`);
  const fd = openSync(log, 'w');
  spawnSync('gdb-multiarch', args, { stdio: ['ignore', fd, fd], timeout: 600_000 });
  closeSync(fd);
  const out = readFileSync(log, 'utf8');
  const parts = new Map<string, string>();
  const re = /@@(\w+)\n([\s\S]*?)(?=@@\w+\n|$)/g;
  for (let m = re.exec(out); m; m = re.exec(out)) parts.set(m[1], m[2]);
  parts.set('all', out);
  return parts;
}

const mark = (name: string) => `echo @@${name}\\n`;
const icountOf = (s: string | undefined) => Number(/icount (\d+)/.exec(s ?? '')?.[1] ?? NaN);
const regsOf = (s: string | undefined) =>
  (s ?? '')
    .split('\n')
    .filter((l) => /^\w+\s+0x[0-9a-f]+/.test(l))
    .map((l) => l.split(/\s+/).slice(0, 2).join(' '))
    .join('\n');

test('gdb: breakpoints, registers, reverse-stepi and reverse-continue, and forward again', async (t) => {
  if (!needTools(t, 'gdb-multiarch')) return;
  const { port, child, err } = await startStub(theRecording());
  try {
    const o = gdb(port, [
      'break do_sys_openat2',
      'continue',
      mark('hit1'),
      'monitor icount',
      'info registers pc sp a0',
      'p (unsigned long)jiffies',
      mark('before'),
      'info registers',
      'stepi',
      mark('after'),
      'info registers',
      'reverse-stepi',
      mark('back'),
      'info registers',
      'monitor icount',
      'continue',
      mark('hit2'),
      'monitor icount',
      'info registers',
      'reverse-continue',
      mark('rev'),
      'monitor icount',
      'info registers pc',
      'continue',
      mark('again'),
      'monitor icount',
      'info registers',
      mark('finish'),
      'finish',
      'monitor icount',
      mark('rfinish'),
      'reverse-finish',
      'monitor icount',
    ]);
    const all = o.get('all')!;
    assert.match(all, /Breakpoint 1, (0x[0-9a-f]+ in )?do_sys_openat2/, all);
    const i1 = icountOf(o.get('hit1'));
    assert.ok(i1 > 0, all);
    assert.match(o.get('hit1')!, /pc\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <do_sys_openat2/);
    assert.match(o.get('hit1')!, /\$1 = \d+/, 'a kernel variable reads');
    // reverse-stepi: the previous pc and every register as they were.
    assert.notEqual(regsOf(o.get('after')), regsOf(o.get('before')));
    assert.equal(regsOf(o.get('back')), regsOf(o.get('before')));
    assert.equal(icountOf(o.get('back')), i1);
    // reverse-continue goes back to the earlier hit; continue comes forward to the same state.
    const i2 = icountOf(o.get('hit2'));
    assert.ok(i2 > i1, all);
    assert.equal(icountOf(o.get('rev')), i1, all);
    assert.match(o.get('rev')!, /<do_sys_openat2/);
    assert.equal(icountOf(o.get('again')), i2);
    assert.equal(regsOf(o.get('again')), regsOf(o.get('hit2')));
    // finish runs to the caller; reverse-finish comes back into the function (to its breakpoint).
    assert.ok(icountOf(o.get('finish')) > i2, all);
    assert.equal(icountOf(o.get('rfinish')), i2, all);
  } finally {
    child.kill();
  }
  void err;
});

test('gdb at source level: lines, arguments and types from DWARF; next, reverse-next, finish, reverse-finish', async (t) => {
  if (!needTools(t, 'gdb-multiarch')) return;
  const { port, child } = await startStub(theRecording());
  try {
    const o = gdb(port, [
      'break do_sys_openat2',
      'continue',
      'delete',
      mark('hit'),
      'monitor icount',
      'frame',
      'ptype struct open_how',
      'p how->flags == (0x80000 | 0x20000) || how->flags != 0',
      mark('next1'),
      'next',
      'monitor icount',
      mark('next2'),
      'next',
      'monitor icount',
      mark('rnext'),
      'reverse-next',
      'monitor icount',
      'frame',
      mark('bt'),
      'bt',
      mark('finish'),
      'finish',
      'monitor icount',
      mark('rfinish'),
      'reverse-finish',
      'monitor icount',
      'frame',
    ]);
    const all = o.get('all')!;
    const line = (s: string | undefined) =>
      Number(/at fs\/open\.c:(\d+)/.exec(s ?? '')?.[1] ?? NaN);
    const lineNo = (s: string | undefined) => Number(/^(\d+)\s/m.exec(s ?? '')?.[1] ?? NaN);
    // The stop names the function with its arguments and its source line; types are known.
    const hit = o.get('hit')!;
    assert.match(hit, /do_sys_openat2 \(dfd=.*filename=.*how=.*\) at fs\/open\.c:\d+/, all);
    assert.match(
      hit,
      /type = struct open_how \{\s+__u64 flags;\s+__u64 mode;\s+__u64 resolve;\s+\}/,
    );
    assert.match(hit, /\$1 = 1/);
    const i0 = icountOf(hit);
    const l0 = line(hit);
    // next goes a source line on, reverse-next comes back to the line and icount of the first next.
    const i1 = icountOf(o.get('next1'));
    const i2 = icountOf(o.get('next2'));
    assert.ok(i0 < i1 && i1 < i2, all);
    assert.ok(lineNo(o.get('next1')) > l0, all);
    assert.equal(icountOf(o.get('rnext')), i1, all);
    assert.equal(line(o.get('rnext')), lineNo(o.get('next1')), all);
    // The backtrace goes through the system call's source to the trap entry.
    assert.match(o.get('bt')!, /#1 .* in do_sys_open .* at fs\/open\.c:\d+/, all);
    assert.match(o.get('bt')!, /handle_exception \(\) at arch\/riscv\/kernel\/entry\.S:\d+/, all);
    // finish returns to the caller with the result (an fd); reverse-finish from there goes
    // back to where that caller was called, before the function's entry.
    assert.match(
      o.get('finish')!,
      /in do_sys_open \(.*\) at fs\/open\.c:\d+[\s\S]*Value returned is \$\d+ = \d+/,
      all,
    );
    assert.ok(icountOf(o.get('finish')) > i2, all);
    const back = o.get('rfinish')!;
    assert.ok(icountOf(back) < i0, all);
    assert.match(back, /in __do_sys_openat \(.*\) at fs\/open\.c:\d+/, all);
  } finally {
    child.kill();
  }
});

test('gdb: a watchpoint on a kernel variable, forwards and reverse-continued to its last writer', async (t) => {
  if (!needTools(t, 'gdb-multiarch')) return;
  const { port, child } = await startStub(theRecording());
  try {
    const o = gdb(port, [
      'break do_sys_openat2',
      'continue',
      'delete',
      'watch *(unsigned long*)&jiffies',
      mark('w1'),
      'continue',
      'monitor icount',
      mark('w2'),
      'continue',
      'monitor icount',
      mark('rw'),
      'reverse-continue',
      'monitor icount',
      'x/i $pc',
      'p (unsigned long)jiffies',
      mark('stepped'),
      'stepi',
      'p (unsigned long)jiffies',
      mark('read'),
      'delete',
      'rwatch *(unsigned long*)&jiffies',
      'continue',
      'x/i $pc',
      mark('access'),
      'delete',
      'awatch *(unsigned long*)&jiffies',
      'continue',
      'x/i $pc',
      'reverse-continue',
      'x/i $pc',
    ]);
    const all = o.get('all')!;
    const vals = (s: string | undefined) => {
      const m = /Old value = (\d+)\s+New value = (\d+)/.exec(s ?? '');
      return m ? [Number(m[1]), Number(m[2])] : [];
    };
    const [a, b] = vals(o.get('w1'));
    assert.equal(b, a + 1, all);
    const [c, d] = vals(o.get('w2'));
    assert.deepEqual([c, d], [b, b + 1], all);
    // Backwards: stopped at the store that wrote the last value, which is not yet written.
    const rw = o.get('rw')!;
    assert.deepEqual(vals(rw), [b + 1, b], all);
    assert.match(rw, /=> 0x[0-9a-f]+ <[\w.]+\+\d+>:\s+(c\.)?s[dw]\s/, 'the pc is a store');
    assert.match(rw, new RegExp(`\\$\\d+ = ${b}\\b`));
    assert.ok(icountOf(rw) < icountOf(o.get('w2')));
    // A read watchpoint stops at a reader of jiffies (GDB steps over the load, as for writes).
    assert.match(o.get('read')!, /Hardware read watchpoint \d+: [^\n]*\n\nValue = \d+/, all);
    // An access watchpoint stops at readers and writers, forwards and backwards, at a load or store.
    const access = o.get('access')!;
    const accessHits =
      access.match(
        /Hardware access \(read\/write\) watchpoint \d+: [^\n]*\n\n(Value|Old value) = \d+/g,
      ) ?? [];
    assert.equal(accessHits.length, 2, all);
    assert.equal(
      (
        access.match(
          /=> 0x[0-9a-f]+ <[\w.]+\+\d+>:\s+(c\.)?(l[bhwd]u?|s[bhwd]|amo\S+|lr\.\S+|sc\.\S+)\s/g,
        ) ?? []
      ).length,
      2,
      all,
    );
    // One step forward performs the write again.
    assert.match(o.get('stepped')!, new RegExp(`\\$\\d+ = ${b + 1}\\b`), all);
  } finally {
    child.kill();
  }
});

/**
 * Raw RSP over TCP: each send, then a wait until the stub has answered it as
 * `until` says (nothing to wait for when undefined); returns all it sent back.
 */
async function rawSession(
  port: number,
  steps: { send: string | Buffer; until?: (got: string) => boolean }[],
): Promise<string> {
  const sock = connect(port, '127.0.0.1');
  let got = '';
  let closed = false;
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  sock.on('error', () => {}); // the stub may drop a hostile client
  sock.on('close', () => (closed = true));
  await new Promise<void>((r) => sock.on('connect', () => r()));
  for (const { send, until } of steps) {
    const before = got.length;
    sock.write(send);
    if (until)
      await waitUntil(
        () => until(got.slice(before)) || closed,
        `an answer to ${JSON.stringify(send.slice(0, 40))}`,
      );
  }
  sock.destroy();
  return got;
}
/** A reply packet came (any, after the ack). */
const replied = (got: string) => /\$[^$#]*#[0-9a-f]{2}/.test(got);
/** The stub's answer includes `re`. */
const saw = (re: RegExp) => (got: string) => re.test(got);
const pkt = (s: string) => `$${s}#${checksum(s).toString(16).padStart(2, '0')}`;

test('gdb: malformed and hostile packets get error replies, never a crash', async () => {
  const { port, child } = await startStub(theRecording());
  try {
    const hostile = [
      pkt('m zz,10'),
      pkt('mffffffffffffffffff,10'),
      pkt('m0,100000000'),
      pkt('pzz'),
      pkt('Z9,0,0'),
      pkt('Z2,80000000,0'),
      pkt('X80000000,4:ab'),
      pkt('M80000000,2:0102'),
      pkt('G00'),
      pkt('qXfer:features:read:target.xml:zz,yy'),
      pkt('qRcmd,zz'),
      pkt('qRcmd,' + Buffer.from('seek -5').toString('hex')),
    ].map((send) => ({ send, until: replied }));
    const got = await rawSession(port, [
      ...hostile,
      { send: '$m0,4#00', until: saw(/-/) }, // bad checksum: '-'
      { send: 'garbage without a dollar' },
      // A count with a suffix, as the command line takes them.
      { send: pkt('qRcmd,' + Buffer.from('seek 2k').toString('hex')), until: saw(/\$OK#/) },
      { send: pkt('?'), until: replied },
      { send: pkt('m1000,4'), until: replied },
    ]);
    assert.ok(got.includes(Buffer.from('icount 2000\n').toString('hex')), 'monitor seek 2k');
    assert.match(got, /\$E01#/, 'errors are replied');
    assert.ok(got.includes('-'), 'a bad checksum is NAKed');
    // Still answering after all that: the stop reason and the boot ROM's first word.
    assert.match(got, /\$T05thread:1;#/);
    assert.match(got, /\$[0-9a-f]{8}#[0-9a-f]{2}$/);
    // Ctrl-C while continuing stops the target (or it reached the end of the recording first).
    const { port: p3, child: c3 } = await startStub(theRecording());
    try {
      const stopped = await talk(p3, [pkt('c') + '\x03', pkt('?')]);
      assert.match(stopped, /\$T02thread:1;#|\$T05replaylog:end;/);
    } finally {
      c3.kill();
    }
    // An endless packet closes the connection; the process is not hurt and serves the next
    // client, which ends the replay with a kill.
    const { port: p2, child: c2 } = await startStub(theRecording());
    try {
      // The stub answers by closing the connection (rawSession waits for that).
      await rawSession(p2, [
        { send: '$' },
        { send: Buffer.alloc(1100 * 1024, 0x61), until: () => false },
      ]);
      assert.match(await talk(p2, [pkt('?'), pkt('k')]), /\$T05thread:1;#/);
      assert.equal(await exitOf(c2), 0, 'a kill from the debugger ends the replay');
    } finally {
      c2.kill();
    }
  } finally {
    child.kill();
  }
});

test('gdb on a live machine (vmrs run --gdb): the guest waits, stops at a breakpoint, takes register writes, runs on when GDB detaches', async (t) => {
  if (!needTools(t, 'gdb-multiarch')) return;
  theRecording(); // builds/finds the guest, sets vmlinux
  // The guest waits for GDB before its first instruction: no output is missed here.
  const { port, child, err } = await serveGdb(['run', '--gdb', '0'], ['pipe', 'pipe', 'pipe']);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  try {
    const o = gdb(port, [
      mark('attach'),
      'monitor icount',
      'info registers pc',
      'break do_sys_openat2',
      mark('hit'),
      'continue',
      'info registers pc',
      'set $t0 = 0x1234',
      'p/x $t0',
      'stepi',
      'info registers pc',
      'reverse-stepi',
      'delete',
      mark('live_watch'),
      'watch *(unsigned long*)&jiffies',
      'continue',
      'x/i $pc-4',
      'x/i $pc-2',
      'delete',
    ]);
    // The hart stops before the store, GDB steps over it and reports: the store is the
    // instruction just before pc (4 or 2 bytes back), and the value went up by one.
    const lw = o.get('live_watch')!;
    const m = /Old value = (\d+)\s+New value = (\d+)/.exec(lw);
    assert.ok(m && Number(m[2]) === Number(m[1]) + 1, lw);
    const [, before4, before2] = lw.split(/^\s*0x[0-9a-f]+ <[\w.]+\+\d+>:/m);
    assert.ok(
      /^\s+s[dw]\s/.test(before4 ?? '') || /^\s+(c\.)?s[dw]\s/.test(before2 ?? ''),
      `the instruction before pc is the store:\n${lw}`,
    );
    // Not one instruction ran before GDB came: the hart is at the reset vector.
    const attach = o.get('attach')!;
    assert.equal(icountOf(attach), 0, attach);
    assert.match(attach, /pc\s+0x1000\s/, attach);
    const hit = o.get('hit')!;
    assert.match(hit, /Breakpoint 1, (0x[0-9a-f]+ in )?do_sys_openat2/);
    assert.match(hit, /\$1 = 0x1234/);
    assert.match(hit, /pc\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <do_sys_openat2\+\d+>/, 'stepi moved on');
    assert.match(hit, /does not support this command|cannot run backwards|Remote failure/i);
    // Detached: the guest boots on to its shell.
    const deadline = Date.now() + 300_000;
    while (!/[#$] $/m.test(out) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    child.stdin!.write('poweroff -f\n');
    const code = await new Promise<number | null>((r) =>
      child.exitCode !== null ? r(child.exitCode) : child.on('exit', (c) => r(c)),
    );
    assert.equal(code, 0, err());
  } finally {
    child.kill();
  }
});

// --- The connection lifecycle: probes, debuggers that come and go, the end of the session.

/** The exit status of `child` (a signal counts as null). */
const exitOf = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

/** A port probe or health check: connect, maybe send a line of something else, close. */
async function probe(port: number, data?: string): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  if (data) sock.write(data);
  sock.end();
  await new Promise<void>((r) => sock.once('close', () => r()));
}

/** Send packets one at a time, as GDB does (each after the reply to the one before); all that came back. */
async function talk(port: number, packets: string[], host = '127.0.0.1'): Promise<string> {
  const sock = connect(port, host);
  let got = '';
  let closed = false;
  let wake = () => {};
  sock.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    wake();
  });
  sock.on('close', () => {
    closed = true;
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  sock.on('error', () => {});
  for (const p of packets) {
    const before = got.length;
    sock.write(p);
    // The reply ($...#xx), or the end of the connection (k, D).
    while (!closed && !/\$[^#]*#[0-9a-f]{2}/.test(got.slice(before)))
      await new Promise<void>((r) => (wake = r));
  }
  sock.end();
  if (!closed) await new Promise<void>((r) => sock.once('close', () => r()));
  return got;
}

test('replay --gdb: probes change nothing, debuggers come and go, and a detach runs the replay to its end', async (t) => {
  if (!needTools(t, 'gdb-multiarch')) return;
  const file = theRecording();
  const plain = spawnSync(process.execPath, [VMRS_BIN, 'replay', '-q', file], {
    encoding: 'latin1',
    maxBuffer: 1 << 26,
  });
  assert.equal(plain.status, 0, plain.stderr);
  const { port, child, err } = await serveGdb(
    ['replay', file, '--gdb', '0'],
    ['ignore', 'pipe', 'pipe'],
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  try {
    await probe(port);
    await probe(port, 'GET / HTTP/1.0\r\n\r\n');
    await probe(port);
    assert.equal(child.exitCode, null, 'probes do not end the replay');
    // A debugger that disconnects (no detach) leaves the replay where it was.
    const a = gdb(port, [
      mark('a'),
      'monitor icount',
      'stepi',
      'stepi',
      'monitor icount',
      'disconnect',
    ]);
    assert.deepEqual(
      [...(a.get('a') ?? '').matchAll(/icount (\d+)/g)].map((m) => Number(m[1])),
      [0, 2],
      a.get('all'),
    );
    await probe(port);
    // The next one finds it there; its detach (gdb's helper ends with one) lets the replay run on.
    const b = gdb(port, [mark('b'), 'monitor icount']);
    assert.equal(icountOf(b.get('b')), 2, b.get('all'));
    assert.equal(await exitOf(child), 0, err());
    assert.match(err(), /GDB detached at icount 2; the replay runs on to its end/);
    assert.match(err(), /replay complete: \d+ instructions .* \d+ state digests verified/);
    assert.equal(out, plain.stdout, 'the whole console output, once');
  } finally {
    child.kill();
  }
});

test(
  'replay --gdb and run --gdb: SIGINT / SIGTERM end the session, and the port closes with it',
  { timeout: 600_000 }, // a process that does not end must fail the test, not hang it
  async () => {
    const { port, child } = await startStub(theRecording());
    try {
      await probe(port);
      child.kill('SIGINT');
      assert.equal(await exitOf(child), 130);
      await assert.rejects(probe(port), /ECONNREFUSED/);
    } finally {
      child.kill();
    }
    // A live machine still waiting for its first debugger.
    const live = await serveGdb(['run', '--gdb', '0'], ['pipe', 'ignore', 'pipe']);
    try {
      await probe(live.port);
      live.child.kill('SIGTERM');
      assert.equal(await exitOf(live.child), 130, live.err());
      await assert.rejects(probe(live.port), /ECONNREFUSED/);
    } finally {
      live.child.kill();
    }
  },
);

test('--gdb-host: a warning when the port is not loopback-only, none when it is', async () => {
  const warning = /vmrs: warning: --gdb-host .* is not a loopback address/;
  for (const [host, exposed] of [
    ['0.0.0.0', true],
    ['127.0.0.1', false],
    ['localhost', false],
  ] as const) {
    for (const cmd of [['replay', theRecording()], ['run']]) {
      const { port, child, err } = await serveGdb(
        [...cmd, '--gdb', '0', '--gdb-host', host],
        ['pipe', 'ignore', 'pipe'],
      );
      try {
        // The warning comes before the port is announced.
        if (exposed) assert.match(err(), warning, `${cmd[0]} --gdb-host ${host}`);
        else assert.doesNotMatch(err(), warning, `${cmd[0]} --gdb-host ${host}`);
        // Reachable on the loopback in every case; a kill ends the replay or the machine.
        const reach = host === '0.0.0.0' ? '127.0.0.1' : host;
        assert.match(await talk(port, [pkt('?'), pkt('k')], reach), /\$T05thread:1;#/);
        assert.equal(await exitOf(child), 0);
      } finally {
        child.kill();
      }
    }
  }
});

test('run --gdb: a probe neither lets the waiting guest go nor stops it once it runs', async (t) => {
  if (!needTools(t, 'gdb-multiarch')) return;
  theRecording(); // builds/finds the guest, sets vmlinux
  const { port, child, err } = await serveGdb(['run', '--gdb', '0'], ['pipe', 'pipe', 'pipe']);
  let out = '';
  const seen: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    seen.splice(0).forEach((f) => f());
  });
  const waitFor = async (re: RegExp) => {
    const deadline = Date.now() + 300_000; // a safety net against a hung guest, not a timing assertion
    while (!re.test(out)) {
      if (child.exitCode !== null) throw new Error(`vmrs exited: ${err()}`);
      if (Date.now() > deadline) throw new Error(`${re} did not appear: ${out.slice(-500)}`);
      await new Promise<void>((r) => {
        seen.push(r);
        setTimeout(r, 1000);
      });
    }
  };
  try {
    await probe(port);
    await probe(port, 'hello\n');
    // Still at its first instruction: the probes let nothing run.
    const o = gdb(port, [mark('held'), 'monitor icount']);
    assert.equal(icountOf(o.get('held')), 0, o.get('all'));
    // Detached (the helper's last command): the guest boots; a probe now does not stop it.
    await probe(port);
    await waitFor(/[#$] $/m);
    child.stdin!.write('echo still-$((40+2))\n');
    await waitFor(/still-42/);
    child.stdin!.write('poweroff -f\n');
    assert.equal(await exitOf(child), 0, err());
    assert.match(err(), /GDB detached; the guest runs on/);
  } finally {
    child.kill();
  }
});
