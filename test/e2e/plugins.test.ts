/**
 * Plugins over real replays of the default guest: the example system-call
 * counter sees what a known shell session did, an every-instruction plugin
 * sees every instruction, the replay still verifies its digests and prints
 * the same console; bad plugins get clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  assertReplays,
  recordSession,
  replayFile as replay,
  type Recording,
} from '../helpers/recording.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-plugins-'));
const EXAMPLE = resolve('examples/plugins/syscall-count.mjs');
const MMIO_LOG = resolve('examples/plugins/mmio-log.mjs');

let recorded: Recording | undefined;
/** One recording of a known session, made once. */
async function session(): Promise<Recording> {
  recorded ??= await recordSession(join(dir, 'session.vmrs'), [], async (vm) => {
    await vm.shell('echo plugin-$((6*7)) > /tmp/p; cat /tmp/p; ls / > /dev/null');
  });
  return recorded;
}

/** "  N  name" rows of the counter's table. */
function counts(stderr: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    const r = /^\s+(\d+)\s+([\w-]+)$/.exec(line);
    if (r) m.set(r[2], (m.get(r[2]) ?? 0) + Number(r[1]));
  }
  return m;
}

test('the example plugin counts the system calls of a known session; the replay is unchanged', async () => {
  const rec = await session();
  const r = replay(rec.file, ['--plugin', `${EXAMPLE},top=100`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /replay complete: .* (\d+) state digests verified/);
  assert.equal(r.stdout, rec.output, 'the console is what was recorded');
  assert.match(r.stderr, /syscall-count: \d+ system calls up to icount \d+ \(done\)/);
  const c = counts(r.stderr);
  // `echo … > /tmp/p` opens the file; `cat` and `ls` are programs run by path; the console is written to.
  for (const name of ['execve', 'openat', 'write', 'read', 'close', 'wait4', 'ecall-u', 'timer-s'])
    assert.ok((c.get(name) ?? 0) > 0, `no ${name} counted:\n${r.stderr}`);
  assert.ok((c.get('execve') ?? 0) >= 2, 'cat and ls were run');
  assert.equal(
    c.get('ecall-u'),
    [...c].filter(([k]) => !k.includes('-')).reduce((a, [, n]) => a + n, 0),
  );
  assert.match(r.stderr, /syscall-count: [1-9]\d* satp writes/);
});

test('an every-instruction plugin sees every instruction, and trap handlers from their start', async () => {
  const rec = await session();
  const plugin = join(dir, 'count.mjs');
  writeFileSync(
    plugin,
    `export default function (vmrs) {
      let n = 0, exc = 0;
      vmrs.onInstruction(() => n++);
      vmrs.onTrap((t) => { if (!t.interrupt) exc++; });
      vmrs.onEnd((e) => vmrs.print('seen ' + n + ' end ' + e.icount + ' exceptions ' + exc));
    }`,
  );
  const r = replay(rec.file, ['--plugin', plugin]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /state digests verified/);
  const [, seen, end, exc] = /seen (\d+) end (\d+) exceptions (\d+)/.exec(r.stderr)!.map(Number);
  // An instruction that raises an exception does not retire: it is seen, and so is the handler's first.
  assert.equal(seen, end + exc);
});

test('bad plugins: a missing file, no default function, one that throws', async () => {
  const rec = await session();
  let r = replay(rec.file, ['--plugin', join(dir, 'none.mjs')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--plugin .*none\.mjs: no such file/);

  const notFn = join(dir, 'not-fn.mjs');
  writeFileSync(notFn, 'export default 42;\n');
  r = replay(rec.file, ['--plugin', notFn]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /default export must be a function/);

  const thrower = join(dir, 'thrower.mjs');
  writeFileSync(
    thrower,
    `export default function (vmrs) {
      let n = 0;
      vmrs.onTrap(() => { if (++n === 100) throw new Error('plugin bug'); });
    }`,
  );
  r = replay(rec.file, ['--plugin', thrower]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /plugin thrower\.mjs failed: Error: plugin bug/);
  assert.match(r.stderr, /replay stopped at icount \d+/);
});

test('plugins in live runs: vmrs record --plugin counts as the guest runs, and the recording replays as any other', async () => {
  const rec = await recordSession(
    join(dir, 'live.vmrs'),
    ['--plugin', `${EXAMPLE},top=100`],
    async (vm) => {
      await vm.shell('cat /proc/version > /dev/null; echo live-$((6*7))');
    },
  );
  const stderr = rec.stderr ?? '';
  const c = counts(stderr);
  assert.match(stderr, /syscall-count: \d+ system calls up to icount \d+ \(poweroff\)/);
  assert.ok((c.get('execve') ?? 0) >= 1 && (c.get('openat') ?? 0) >= 1, stderr);
  assertReplays(rec);
});

test('a plugin sees the inputs the replay hands the guest: the typed text, at its icount', async () => {
  const rec = await session();
  const plugin = join(dir, 'inputs.mjs');
  writeFileSync(
    plugin,
    `export default function (vmrs) {
      let typed = '', kinds = new Set(), last = -1, ordered = true;
      vmrs.onInput((e) => {
        kinds.add(e.kind);
        if (e.icount < last) ordered = false;
        last = e.icount;
        if (e.kind === 'console') typed += String.fromCharCode(...e.data);
      });
      vmrs.onEnd(() => vmrs.print('typed ' + JSON.stringify(typed) + ' kinds ' + [...kinds].sort().join(',') + ' ordered ' + ordered));
    }`,
  );
  const r = replay(rec.file, ['--plugin', plugin]);
  assert.equal(r.status, 0, r.stderr);
  const m = /typed (".*") kinds (\S+) ordered (\w+)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const typed = JSON.parse(m[1]) as string;
  assert.ok(typed.includes('echo plugin-$((6*7)) > /tmp/p'), typed);
  assert.ok(typed.includes('poweroff -f'), typed);
  assert.ok(m[2].split(',').includes('console'));
  assert.equal(m[3], 'true');
});

test('memory, privilege and block hooks over a real replay: the UART transmit writes are the console; mmio-log names the devices', async () => {
  const rec = await session();
  const plugin = join(dir, 'uart.mjs');
  // The 16550's transmit register is offset 0 while LCR (offset 3) has DLAB clear.
  writeFileSync(
    plugin,
    `export default function (vmrs) {
      let dlab = false, out = '', trapsFromU = 0, upFromU = 0, sretsToU = 0, downToU = 0;
      let blocks = 0, last = -1, ordered = true;
      vmrs.onMemory((m) => {
        if (m.device !== 'uart16550' || m.size !== 1) throw new Error('not the UART: ' + m.device);
        if (m.offset === 3) dlab = (Number(m.value) & 0x80) !== 0;
        else if (m.offset === 0 && !dlab) out += String.fromCharCode(Number(m.value));
      }, { from: 0x10000000, to: 0x10000008, kind: 'write', physical: true });
      vmrs.onTrap((t) => { if (t.from === 'U') trapsFromU++; });
      vmrs.onXret((x) => { if (x.to === 'U') sretsToU++; });
      vmrs.onPrivilege((p) => { if (p.from === 'U') upFromU++; if (p.to === 'U') downToU++; });
      vmrs.onBlock((b) => { blocks++; if (b.icount < last) ordered = false; last = b.icount; });
      vmrs.onEnd((e) => {
        vmrs.print('uart ' + JSON.stringify(out));
        vmrs.print('from U ' + trapsFromU + ' ' + upFromU + ' to U ' + sretsToU + ' ' + downToU);
        vmrs.print('blocks ' + blocks + ' ordered ' + ordered + ' end ' + e.icount);
      });
    }`,
  );
  const r = replay(rec.file, ['--plugin', plugin, '--plugin', MMIO_LOG]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /state digests verified/);
  assert.equal(r.stdout, rec.output, 'the console is what was recorded');
  const uart = /^uart (".*")$/m.exec(r.stderr);
  assert.ok(uart, r.stderr);
  assert.equal(
    JSON.parse(uart[1]),
    r.stdout,
    'every byte of the console, written by the guest to the UART',
  );
  const [, trapsFromU, upFromU, sretsToU, downToU] = /from U (\d+) (\d+) to U (\d+) (\d+)/
    .exec(r.stderr)!
    .map(Number);
  assert.ok(trapsFromU > 100, r.stderr);
  assert.equal(upFromU, trapsFromU);
  assert.equal(downToU, sretsToU);
  const [, blocks, , end] = /blocks (\d+) ordered (\w+) end (\d+)/.exec(r.stderr)!;
  assert.match(r.stderr, /ordered true/);
  assert.ok(Number(blocks) > Number(end) / 30 && Number(blocks) < Number(end) / 2, r.stderr);
  // mmio-log: the devices by name, the UART's transmit register among the busiest.
  assert.match(r.stderr, /mmio-log: \d+ device register accesses up to icount \d+ \(done\)/);
  for (const name of ['uart16550', 'plic', 'boot-rom', 'sifive-test'])
    assert.match(r.stderr, new RegExp(`^  ${name} +\\d+ reads +\\d+ writes$`, 'm'));
  const thr = /^ {2}uart16550 [^\n]*\n(?: {4}[^\n]*\n)*? {4}\+0x0 +\d+ reads +(\d+) writes$/m.exec(
    r.stderr,
  );
  assert.ok(thr && Number(thr[1]) >= r.stdout.length, r.stderr);
});

test('a plugin loads in the CLI bundle run from its code cache, when the cache holds the code that loads plugins', async () => {
  // A copy of the bundle of its own, so that this cache is made by a run that loads a plugin.
  const rec = await session();
  const bundleDir = mkdtempSync(join(tmpdir(), 'vmrs-plugin-bundle-'));
  const bundle = join(bundleDir, 'main.cjs');
  copyFileSync(resolve('dist/bundle/main.cjs'), bundle);
  const loader = pathToFileURL(resolve('dist/src/host/bundle-loader.js')).href;
  // As bin/vmrs starts it, saying whether the cache was used.
  const launcher = join(bundleDir, 'vmrs.mjs');
  writeFileSync(
    launcher,
    `const { runBundle } = await import(${JSON.stringify(loader)});\n` +
      `const used = runBundle(${JSON.stringify(bundle)});\n` +
      `process.on('exit', () => process.stderr.write('cache used: ' + used + '\\n'));\n`,
  );
  const viaBundle = () =>
    spawnSync(process.execPath, [launcher, 'replay', rec.file, '--plugin', `${EXAMPLE},top=5`], {
      encoding: 'utf8',
    });
  const first = viaBundle();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /cache used: false/);
  assert.ok(existsSync(`${bundle}.v8-cache`));
  const again = viaBundle();
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /cache used: true/);
  assert.match(again.stderr, /syscall-count: \d+ system calls up to icount \d+ \(done\)/);
  assert.equal(again.stdout, rec.output);
});
