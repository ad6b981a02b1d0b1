/**
 * Hot code carried between runs (src/cpu/hot-seeds.ts, src/host/hot-profile.ts),
 * on the default guest: a boot seeded from an earlier one interprets far
 * fewer instructions, and its machine is the same, digest for digest, as
 * an unseeded boot's; `vmrs run` keeps the profile in its cache directory,
 * uses it the next time, and takes a damaged one for none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine, type VirtConfig } from '../../src/machine/virt.js';
import { machineConfig } from '../../src/cli/run.js';
import { ensureDefaultGuest } from '../../src/host/default-guest.js';
import { HotSeeds } from '../../src/cpu/hot-seeds.js';
import { StateDigester } from '../../src/replay/state-digest.js';
import { decodeHotProfile } from '../../src/host/hot-profile.js';
import { GuestSession } from '../helpers/guest-session.js';

const PROMPT = /[#$] $/;
/** Digests every this many instructions, at the same icounts in each boot. */
const STEP = 10_000_000;

function boot(cfg: VirtConfig, seeds?: Uint32Array) {
  let out = '';
  const vm = new VirtMachine(cfg, (b) => {
    out += String.fromCharCode(b);
  });
  if (seeds) new HotSeeds(seeds, vm.bus.ram8.length).apply(vm.cpu.code);
  const digester = new StateDigester(vm);
  const digests: string[] = [];
  let next = STEP;
  while (!PROMPT.test(out)) {
    const { result } = vm.runSlice(Math.min(1 << 20, next - vm.cpu.icount));
    if (vm.cpu.icount === next) {
      digests.push(Buffer.from(digester.take()).toString('hex'));
      next += STEP;
    }
    if (result === 'exit') throw new Error(`the guest exited: ${JSON.stringify(vm.exit)}`);
    if (result === 'idle') vm.advanceTimeTo(vm.nextDeadline());
  }
  digests.push(Buffer.from(digester.take()).toString('hex'));
  return { vm, out, digests };
}

test('a boot seeded from an earlier one interprets less, and its machine is the same', async () => {
  const cfg = await machineConfig({ memory: '256M', insnsPerTick: '10' }, () => {});
  cfg.rtcStartUnixNs = 1_700_000_000_000 * 1e6;
  const first = boot(cfg);
  const log = first.vm.cpu.code.compiledLog;
  assert.ok(log.size > 1000, `${log.size} blocks compiled in a boot`);
  const seeded = boot(cfg, log.triples());
  const a = first.vm.cpu.code.interpreted;
  const b = seeded.vm.cpu.code.interpreted;
  assert.ok(b < 0.75 * a, `interpreted ${b} instructions seeded, ${a} without`);
  assert.equal(seeded.vm.cpu.icount, first.vm.cpu.icount);
  assert.equal(seeded.out, first.out);
  assert.equal(seeded.digests.length, first.digests.length);
  seeded.digests.forEach((d, i) => assert.equal(d, first.digests[i], `digest ${i}`));
});

/** `vmrs run` of the default guest's images to the prompt and `poweroff`; its --stats. */
async function runOnce(cache: string, kernel: string, initrd: string): Promise<string> {
  const s = new GuestSession(['run', '-q', '--stats', '--kernel', kernel, '--initrd', initrd], {
    ...process.env,
    VMRS_CACHE_DIR: cache,
  });
  try {
    await s.waitFor(PROMPT);
    s.type('poweroff -f\n');
    assert.equal(await s.exited, 0, s.stderr);
    return s.stderr;
  } finally {
    s.kill();
  }
}

const inBlocks = (stats: string) => {
  const m = /(\d+) instructions run in blocks/.exec(stats);
  assert.ok(m, stats);
  return Number(m[1]);
};

test('vmrs run keeps a profile per set of images, uses it next time, and takes a damaged one for none', async () => {
  const guest = await ensureDefaultGuest({});
  const cache = mkdtempSync(join(tmpdir(), 'vmrs-hot-'));
  const first = await runOnce(cache, guest.kernel, guest.initrd);
  const files = readdirSync(join(cache, 'hot'));
  assert.equal(files.length, 1, files.join(' '));
  const file = join(cache, 'hot', files[0]);
  const seeds = decodeHotProfile(readFileSync(file));
  assert.ok(seeds && seeds.length / 3 > 1000, 'the profile holds the boot');
  const second = await runOnce(cache, guest.kernel, guest.initrd);
  assert.ok(
    inBlocks(second) > inBlocks(first) + 2_000_000,
    `in blocks: ${inBlocks(second)} seeded against ${inBlocks(first)}`,
  );
  writeFileSync(file, readFileSync(file).subarray(0, 1000)); // cut short
  const third = await runOnce(cache, guest.kernel, guest.initrd);
  assert.ok(inBlocks(third) < inBlocks(second), 'a damaged profile is no profile');
  assert.ok(decodeHotProfile(readFileSync(file)), 'and the run wrote a sound one');
});
