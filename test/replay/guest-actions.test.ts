/** GuestActionLog: the words for each frame and disk request; take() hands out only what is new. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestActionLog, describeDiskRequest } from '../../src/replay/guest-actions.js';
import { appendIcounts } from '../../src/util/append-icounts.js';
import type { BlkRequest } from '../../src/devices/virtio/blk.js';

const req = (type: number, sector: number, bytes: number, status: number): BlkRequest => ({
  type,
  sector,
  bytes,
  status,
});

test('disk requests in words: reads and writes with their size and sector, flushes, failures', () => {
  assert.equal(describeDiskRequest(0, req(0, 2048, 8192, 0)), 'disk 0: read 8 KiB at sector 2048');
  assert.equal(describeDiskRequest(1, req(1, 0, 512, 0)), 'disk 1: write 512 bytes at sector 0');
  assert.equal(describeDiskRequest(0, req(4, 0, 0, 0)), 'disk 0: flush');
  assert.equal(describeDiskRequest(0, req(8, 0, 0, 0)), 'disk 0: get id');
  assert.equal(
    describeDiskRequest(0, req(1, 16, 4096, 1)),
    'disk 0: write 4 KiB at sector 16: I/O error',
  );
  assert.equal(describeDiskRequest(2, req(11, 0, 0, 2)), 'disk 2: request type 11: unsupported');
});

test('take() gives each event once, in order', () => {
  const log = new GuestActionLog();
  log.netSent(0, new Uint8Array(60), 5);
  log.diskRequest(0, req(0, 0, 512, 0), 7);
  log.diskRequest(0, req(0, 1, 512, 0), 7);
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
  log.diskRequest(0, req(4, 0, 0, 0), 9);
  assert.deepEqual(
    log.take().map((t) => [t.name, Array.from(t.icounts), t.labels]),
    [['disk requests', [9], ['disk 0: flush']]],
  );
});

test('appendIcounts: appended in order, in place once it has room, never over a buffer it did not make', () => {
  const sent = new Float64Array([1, 2, 3]);
  const a = appendIcounts(sent, new Float64Array([4]));
  assert.deepEqual(Array.from(a), [1, 2, 3, 4]);
  assert.notEqual(a.buffer, sent.buffer, 'a list it did not make is copied');
  assert.deepEqual(Array.from(sent), [1, 2, 3]);
  const b = appendIcounts(a, new Float64Array([5, 6]));
  assert.equal(b.buffer, a.buffer, 'then grown in place');
  assert.deepEqual(Array.from(a), [1, 2, 3, 4], 'an earlier view keeps its length');
  assert.deepEqual(Array.from(b), [1, 2, 3, 4, 5, 6]);
  assert.equal(appendIcounts(b, new Float64Array(0)), b);
  // A view into someone else's buffer is never written past its end.
  const shared = new Float64Array([10, 20, 30, 40]);
  const c = appendIcounts(shared.subarray(0, 2), new Float64Array([25]));
  assert.deepEqual(Array.from(shared), [10, 20, 30, 40]);
  assert.deepEqual(Array.from(c), [10, 20, 25]);
  // Many small appends cost amortized copies: the buffer doubles, it is not remade each time.
  let list: Float64Array = new Float64Array(0);
  const buffers = new Set<ArrayBufferLike>();
  for (let i = 0; i < 10_000; i++) {
    list = appendIcounts(list, new Float64Array([i]));
    buffers.add(list.buffer);
  }
  assert.equal(list.length, 10_000);
  assert.equal(list[9_999], 9_999);
  assert.ok(buffers.size <= 16, `${buffers.size} buffers for 10,000 appends`);
});
