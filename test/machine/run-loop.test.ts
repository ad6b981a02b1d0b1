/**
 * The live run loop's clock modes (src/machine/guest-pacing.ts): how long a
 * guest's wait sleeps on the host after the guest ran ahead of the host clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine, CLINT_BASE, SIFIVE_TEST_BASE } from '../../src/machine/virt.js';
import { Gate } from '../../src/replay/gate.js';
import { RunLoop } from '../../src/machine/run-loop.js';
import { GuestPacing, type TimeMode } from '../../src/machine/guest-pacing.js';
import { TIMEBASE_HZ } from '../../src/machine/clock.js';
import { addi, bne, csrrs, ld, lui, sd, sw, add, WFI, SPIN } from '../../src/cpu/encode.js';

const LOOPS = 3663 * 4096; // two instructions each: 30 M instructions, 3 guest seconds at one per tick
const WAIT_TICKS = 0x100000; // then a wait of 0.105 guest seconds

/** Spin, then arm the timer WAIT_TICKS ahead, WFI, and power off. */
function program(): Uint8Array {
  const w = [
    lui(5, LOOPS >>> 12),
    addi(5, 5, -1),
    bne(5, 0, -4),
    lui(6, (CLINT_BASE + 0xc000) >>> 12),
    ld(7, 6, -8), // mtime (CLINT + 0xbff8)
    lui(28, WAIT_TICKS >>> 12),
    add(7, 7, 28),
    lui(6, (CLINT_BASE + 0x4000) >>> 12),
    sd(7, 6, 0), // mtimecmp
    addi(29, 0, 0x80),
    csrrs(0, 0x304, 29), // mie.MTIE: WFI wakes on it (mstatus.MIE stays clear: no trap)
    WFI,
    lui(6, SIFIVE_TEST_BASE >>> 12),
    lui(7, 5),
    addi(7, 7, 0x555),
    sw(7, 6, 0), // poweroff
    SPIN,
  ];
  return new Uint8Array(new Int32Array(w).buffer);
}

/** Run the program live; how long the wait slept on the host, and the whole run. */
async function sleepOfWait(mode: TimeMode): Promise<{ sleepMs: number; runMs: number }> {
  let jumpAt = 0;
  const gate = new Gate((b) => b.fill(0));
  const jump = gate.idleJump.bind(gate);
  gate.idleJump = (ticks: number) => {
    jumpAt = performance.now();
    jump(ticks);
  };
  const vm = new VirtMachine(
    {
      memoryBytes: 4 << 20,
      bios: program(),
      biosName: 'wait',
      append: '',
      insnsPerTick: 1,
      rtcStartUnixNs: 0,
    },
    () => {},
  );
  gate.attach(vm);
  let sliceBeforeJump = 0;
  const loop = new RunLoop(
    vm,
    gate,
    {
      afterSlice: () => {
        if (!jumpAt) sliceBeforeJump = performance.now();
      },
    },
    mode,
  );
  const t0 = performance.now();
  const exit = await loop.run();
  assert.equal(exit.kind, 'poweroff');
  assert.ok(jumpAt > 0, 'the guest waited');
  return { sleepMs: jumpAt - sliceBeforeJump, runMs: jumpAt - t0 };
}

const waitMs = (WAIT_TICKS * 1000) / TIMEBASE_HZ;
const guestMs = (2 * LOOPS * 1000) / TIMEBASE_HZ + waitMs;

test("clock 'idle': a wait lasts its own length, whatever lead the guest has", async () => {
  const { sleepMs } = await sleepOfWait('idle');
  assert.ok(
    sleepMs >= waitMs - 2,
    `slept ${sleepMs.toFixed(1)} ms, the wait is ${waitMs.toFixed(1)} ms`,
  );
  // The guest is about 3 s ahead here; that lead is not slept away.
  assert.ok(
    sleepMs < waitMs + 1000,
    `slept ${sleepMs.toFixed(1)} ms for a ${waitMs.toFixed(1)} ms wait`,
  );
});

test("clock 'host': a wait ends when the host clock reaches the guest's deadline", async () => {
  const { runMs } = await sleepOfWait('host');
  assert.ok(
    runMs >= guestMs - 2,
    `the wait ended ${runMs.toFixed(0)} ms in, guest time is ${guestMs.toFixed(0)} ms`,
  );
});

test("clock 'warp': a wait with a deadline ends at once", async () => {
  const { sleepMs } = await sleepOfWait('warp');
  // The wait is 100 ms of guest time; skipped, it costs a turn of the event loop.
  assert.ok(
    sleepMs < waitMs / 2,
    `slept ${sleepMs.toFixed(1)} ms for a ${waitMs.toFixed(1)} ms wait`,
  );
});

test('GuestPacing: lead and lag, in either mode', () => {
  let ns = 0n;
  const ms = (n: number) => BigInt(n) * 1_000_000n;
  const TICKS_PER_MS = TIMEBASE_HZ / 1000;
  for (const mode of ['idle', 'host'] as const) {
    const p = new GuestPacing(mode, () => ns);
    ns = ms(1000);
    p.anchor(0);
    // 100 host ms later the guest is 2 s in (ahead): the wait is measured from 2 s, or from the host's 100 ms.
    ns = ms(1100);
    assert.equal(
      p.beginWait(2000 * TICKS_PER_MS),
      (mode === 'idle' ? 2000 : 100) * TICKS_PER_MS,
      mode,
    );
    // 50 ms on, a wait's host clock has moved on by 50 ms.
    ns = ms(1150);
    assert.equal(p.hostTicks(), (mode === 'idle' ? 2050 : 150) * TICKS_PER_MS, mode);
    // Later the guest is behind the host: 'idle' does not catch up, 'host' does.
    p.anchor(0);
    ns = ms(4150);
    assert.equal(
      p.beginWait(1000 * TICKS_PER_MS),
      (mode === 'idle' ? 1000 : 3000) * TICKS_PER_MS,
      mode,
    );
  }
});
