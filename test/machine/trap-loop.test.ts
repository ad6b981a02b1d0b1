/**
 * A hart whose trap vector faults too traps forever without retiring an
 * instruction. The host must get control back: a slice ends 'stuck', a
 * replay reports it instead of spinning, `vmrs run` still answers signals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventChunkEncoder,
  encodeHeader,
  encodeImageChunk,
  readRecording,
} from '../../src/replay/log-format.js';
import { EMPTY, EventType } from '../../src/replay/events.js';
import { openReplayOf } from '../../src/cli/open-replay.js';
import { bareElf, bareVirt, headerFor } from '../fuzz/crafted.js';

// csrw mtvec, zero; jr zero — then fetch from 0 faults, and so does the vector (0).
const TRAP_FOREVER = [0x30501073, 0x00000067];

test('a hart that traps at every instruction ends its slice as stuck', () => {
  const vm = bareVirt(bareElf(TRAP_FOREVER));
  const r = vm.runSlice(10_000_000);
  // Six instructions of the boot ROM's reset vector, then the program's two.
  assert.deepEqual(r, { result: 'stuck', executed: 8 });
  assert.equal(vm.cpu.icount, 8);
  // And again, at once: nothing changes, nothing hangs.
  assert.deepEqual(vm.runSlice(1), { result: 'stuck', executed: 0 });
});

test('a replay whose guest gets stuck before the next event diverges, saying so', () => {
  const kernel = bareElf(TRAP_FOREVER);
  const enc = new EventChunkEncoder();
  enc.add({ type: EventType.Console, icount: 1000, arg: 0, value: 0, data: Uint8Array.of(65) });
  enc.add({ type: EventType.End, icount: 2000, arg: 0, value: 0, data: EMPTY });
  const file = Buffer.concat([
    encodeHeader(headerFor(kernel)),
    encodeImageChunk('kernel', kernel),
    enc.flush(),
  ]);
  const o = openReplayOf(readRecording(file), { verify: true, log: () => {}, stdout: () => {} });
  const st = o.replayer.step(50_000_000);
  assert.equal(st.state, 'diverged');
  assert.match(
    st.state === 'diverged' ? st.divergence.reason : '',
    /traps at every instruction from icount 8 on .* can never reach icount 1000/,
  );
});
