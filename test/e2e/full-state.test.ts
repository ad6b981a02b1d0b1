/**
 * The whole saved machine — CPU, clock, every device with its queues and
 * requests in flight, disk writes, RAM — as an oracle for time travel: a
 * machine that reached icount N by seeking (backwards or forwards through
 * checkpoints) or by a snapshot restored into a fresh machine and replayed
 * on must save exactly the state of one that replayed straight to N. State
 * digests leave devices out; this compares everything saveState() holds,
 * and names the fields that differ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession } from '../helpers/guest-session.js';
import { haveTool } from '../helpers/tools.js';
import { withSeed } from '../helpers/seed.js';
import { hostUrlFromGuest, makeExt2, servePayload } from '../helpers/host-tools.js';
import { openReplay } from '../../src/cli/open-replay.js';
import {
  captureSnapshot,
  readSnapshot,
  restoreSnapshot,
} from '../../src/snapshot/snapshot-file.js';
import { stateToJson } from '../../src/snapshot/state.js';
import type { VirtMachine } from '../../src/machine/virt.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-fullstate-'));
const PROMPT = /[#$] $/m;
const quiet = { verify: true, log: () => {}, stdout: () => {} };

interface FullState {
  icount: number;
  /** saveState() as JSON (typed arrays in base64), parsed back for field-by-field comparison. */
  state: unknown;
  ram: string;
}

function fullState(vm: VirtMachine): FullState {
  return {
    icount: vm.cpu.icount,
    state: JSON.parse(stateToJson(vm.saveState())),
    ram: createHash('sha256').update(vm.bus.ram8).digest('hex'),
  };
}

/** Paths of the fields that differ between two saved states. */
function differences(a: unknown, b: unknown, path = 'machine', out: string[] = []): string[] {
  if (out.length >= 20) return out;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys)
      differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
        out,
      );
  } else if (a !== b)
    out.push(`${path}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`);
  return out;
}

function assertSameMachine(got: FullState, want: FullState, how: string): void {
  assert.equal(got.icount, want.icount, how);
  const diff = differences(got.state, want.state);
  assert.deepEqual(
    diff,
    [],
    `${how}: the saved machine differs at icount ${want.icount}:\n${diff.join('\n')}`,
  );
  assert.equal(got.ram, want.ram, `${how}: RAM differs at icount ${want.icount}`);
}

async function recordBusyGuest(
  t: Parameters<typeof haveTool>[0],
  payload: Uint8Array,
): Promise<string> {
  const file = join(dir, 'busy.vmrs');
  const img = makeExt2(join(dir, 'disk.img'), 8);
  const server = await servePayload(payload);
  const net = haveTool(t, 'passt') ? ['--net', 'user'] : [];
  const vm = new GuestSession([
    ...['record', '-q', '-o', file, '--rng', '--drive', `file=${img}`],
    ...['--hvc', `file=${join(dir, 'hvc.txt')}`, ...net],
  ]);
  try {
    await vm.waitFor(PROMPT);
    // Disk, network, entropy and the second console busy at once, so that the moments
    // compared below fall amid requests in flight.
    const fetchCmd = net.length ? `wget -q -O /mnt/dl ${hostUrlFromGuest(server.port)} &` : '';
    await vm.shell(
      `${fetchCmd} dd if=/dev/hwrng of=/mnt/rnd bs=1k count=64 2>/dev/null & ` +
        `for i in 1 2 3 4 5; do echo hvc-$i > /dev/hvc0; done; sync; wait; md5sum /mnt/*`,
    );
    await vm.shell('cat /mnt/rnd /mnt/rnd > /mnt/twice; sync; ls -l /mnt');
    vm.type('poweroff -f\n');
    assert.equal(await vm.exited, 0, vm.stderr);
  } finally {
    vm.kill();
    server.close();
  }
  return file;
}

test(
  'seeking and snapshot restores give the whole saved machine of a straight replay',
  withSeed(async (t, rng) => {
    const file = await recordBusyGuest(t, rng.bytes(1 << 20));
    // A first pass finds the recording's length and moments with device requests in flight
    // (a completion due at a later virtual time: a window of a few thousand instructions,
    // looked for in small steps from each millionth instruction on).
    const whole = openReplay(file, quiet);
    const busySlots = () =>
      whole.vm.virtio.flatMap((v, slot) => (v.nextDeadline() !== Infinity ? [slot] : []));
    const busy = new Map<number, number[]>(); // slot -> icounts with a request of it in flight
    let st = whole.replayer.runTo(0);
    for (let at = 1_000_000; st.state === 'paused'; at += 1_000_000) {
      st = whole.replayer.runTo(at);
      for (let k = 0; k < 300 && st.state === 'paused' && !busySlots().length; k++)
        st = whole.replayer.runTo(whole.vm.cpu.icount + 997);
      if (st.state === 'paused')
        for (const slot of busySlots())
          busy.set(slot, [...(busy.get(slot) ?? []), whole.vm.cpu.icount]);
    }
    assert.equal(st.state, 'done', JSON.stringify(st));
    const total = whole.vm.cpu.icount;
    const h0 = whole.rec.header;
    const kinds = [...busy.keys()].map((slot) => h0.devices[slot]?.kind);
    t.diagnostic(`requests in flight seen on ${kinds.join(', ')} in ${total} instructions`);
    // The disk and entropy requests come from one long dd: always seen. Network and console
    // requests are shorter and fewer: compared when seen.
    for (const kind of ['blk', 'rng'])
      assert.ok(kinds.includes(kind as never), `a moment with a ${kind} request in flight`);

    // The reference: one replay, straight through, saved (and snapshotted) at each point:
    // two moments with a request in flight for each device, and four anywhere.
    const points = [
      ...new Set([
        ...[...busy.values()].flatMap((at) => rng.shuffled(at).slice(0, 2)),
        ...Array.from({ length: 4 }, () => rng.range(1, total)),
      ]),
    ].sort((a, b) => a - b);
    const ref = openReplay(file, quiet);
    const want = new Map<number, FullState>();
    const snapshots = new Map<number, Uint8Array>();
    const h = ref.rec.header;
    for (const p of points) {
      assert.equal(ref.replayer.runTo(p).state, 'paused');
      want.set(p, fullState(ref.vm));
      snapshots.set(
        p,
        captureSnapshot(ref.vm, {
          ...{ formatVersion: 1, vmrsVersion: 'test', createdUnixMs: 0 },
          ...{ machine: h.machine, bios: h.bios, kernel: h.kernel, initrd: h.initrd },
          devices: h.devices,
        }),
      );
    }

    // Seeking through checkpoints, in random order: backwards and forwards.
    const sk = openReplay(file, quiet);
    sk.replayer.enableCheckpoints({ interval: 5_000_000, memoryBudget: 256 << 20 });
    assert.equal(sk.replayer.runTo(total - 1).state, 'paused'); // lays the checkpoints
    for (const p of rng.shuffled(points)) {
      const from = sk.vm.cpu.icount;
      assert.equal(sk.replayer.seek(p).state, 'paused', `seek to ${p}`);
      assertSameMachine(fullState(sk.vm), want.get(p)!, `seek ${from} -> ${p}`);
    }
    assert.ok(sk.replayer.checkpointCount >= 2, 'checkpoints were taken');

    // Each snapshot restored into a fresh machine: the same machine at once, and after
    // replaying on to the next point (the last one to the end of the recording).
    points.forEach((q, i) => {
      const b = openReplay(file, quiet);
      restoreSnapshot(b.vm, readSnapshot(snapshots.get(q)!));
      b.replayer.resumeAt(q);
      assertSameMachine(fullState(b.vm), want.get(q)!, `restored at ${q}`);
      const p = points[i + 1];
      if (p !== undefined) {
        assert.equal(b.replayer.runTo(p).state, 'paused');
        assertSameMachine(fullState(b.vm), want.get(p)!, `restored at ${q}, replayed to ${p}`);
      } else assert.equal(b.replayer.runTo(Number.MAX_SAFE_INTEGER).state, 'done');
    });
  }),
);
