/** GuestActionLog: the words for each frame and disk request; take() hands out only what is new. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestActionLog, describeDiskRequest } from '../../src/replay/guest-actions.js';

test('disk requests in words: reads and writes with their size and sector, flushes, failures', () => {
  assert.equal(describeDiskRequest(0, 0, 2048, 8192, 0), 'disk 0: read 8 KiB at sector 2048');
  assert.equal(describeDiskRequest(1, 1, 0, 512, 0), 'disk 1: write 512 bytes at sector 0');
  assert.equal(describeDiskRequest(0, 4, 0, 0, 0), 'disk 0: flush');
  assert.equal(describeDiskRequest(0, 8, 0, 0, 0), 'disk 0: get id');
  assert.equal(
    describeDiskRequest(0, 1, 16, 4096, 1),
    'disk 0: write 4 KiB at sector 16: I/O error',
  );
  assert.equal(describeDiskRequest(2, 11, 0, 0, 2), 'disk 2: request type 11: unsupported');
});

test('take() gives each event once, in order', () => {
  const log = new GuestActionLog();
  log.netSent(0, new Uint8Array(60), 5);
  log.diskRequest(0, 0, 0, 512, 0, 7);
  log.diskRequest(0, 0, 1, 512, 0, 7);
  assert.deepEqual(
    log.take().map((t) => [t.name, Array.from(t.icounts), t.labels]),
    [
      ['net frames out', [5], ['NIC 0: ethertype 0x0000, 60 bytes']],
      [
        'disk requests',
        [7, 7],
        ['disk 0: read 512 bytes at sector 0', 'disk 0: read 512 bytes at sector 1'],
      ],
    ],
  );
  assert.deepEqual(log.take(), []);
  log.diskRequest(0, 4, 0, 0, 0, 9);
  assert.deepEqual(
    log.take().map((t) => [t.name, Array.from(t.icounts), t.labels]),
    [['disk requests', [9], ['disk 0: flush']]],
  );
});
