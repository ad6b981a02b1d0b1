/** GuestActionLog: one disk request per contiguous run of store calls at one icount; take() hands out only what is new. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestActionLog } from '../../src/replay/guest-actions.js';
import { DiskOp } from '../../src/replay/disk-gate.js';

test('contiguous store calls at one icount are one request; a gap, another op, disk or icount starts a new one', () => {
  const log = new GuestActionLog();
  log.diskCall(0, DiskOp.Read, 4096, 4096, 100);
  log.diskCall(0, DiskOp.Read, 8192, 4096, 100); // continues it
  log.diskCall(0, DiskOp.Read, 16384, 512, 100); // a gap
  log.diskCall(1, DiskOp.Read, 16896, 512, 100); // another disk
  log.diskCall(1, DiskOp.Write, 17408, 512, 100); // another op
  log.diskCall(1, DiskOp.Write, 17920, 512, 101); // another icount
  log.diskCall(1, DiskOp.Flush, 0, 0, 101);
  log.diskCall(1, DiskOp.Flush, 0, 0, 101); // two flushes are two requests
  assert.deepEqual(
    Array.from(log.disk.a.subarray(0, log.disk.n)),
    [100, 100, 100, 100, 101, 101, 101],
  );
  assert.deepEqual(log.disk.labels, [
    'disk 0: read 8 KiB at sector 8',
    'disk 0: read 512 bytes at sector 32',
    'disk 1: read 512 bytes at sector 33',
    'disk 1: write 512 bytes at sector 34',
    'disk 1: write 512 bytes at sector 35',
    'disk 1: flush',
    'disk 1: flush',
  ]);
});

test('take() gives each event once, and a request handed out is not extended afterwards', () => {
  const log = new GuestActionLog();
  log.netSent(0, new Uint8Array(60), 5);
  log.diskCall(0, DiskOp.Read, 0, 512, 7);
  const first = log.take();
  assert.deepEqual(
    first.map((t) => [t.name, Array.from(t.icounts), t.labels]),
    [
      ['net frames out', [5], ['NIC 0: ethertype 0x0000, 60 bytes']],
      ['disk requests', [7], ['disk 0: read 512 bytes at sector 0']],
    ],
  );
  assert.deepEqual(log.take(), []);
  log.diskCall(0, DiskOp.Read, 512, 512, 7);
  const second = log.take();
  assert.deepEqual(
    second.map((t) => [t.name, Array.from(t.icounts), t.labels]),
    [['disk requests', [7], ['disk 0: read 512 bytes at sector 1']]],
  );
});
