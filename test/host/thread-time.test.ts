/**
 * The guest's thread's time on a core and waiting for one (--stats), from
 * Linux's schedstat: present on Linux, and it counts a busy loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadTimes, threadTimesSince } from '../../src/host/thread-time.js';

test(
  'on Linux, the thread time counts a busy loop on a core',
  { skip: process.platform !== 'linux' },
  () => {
    const from = threadTimes();
    assert.ok(from !== undefined, '/proc/thread-self/schedstat is readable');
    assert.ok(from.runMs > 0 && from.waitMs >= 0);
    const t0 = performance.now();
    let x = 0;
    while (performance.now() - t0 < 100) x += Math.sqrt(x + 1);
    assert.ok(x > 0);
    const to = threadTimes()!;
    // On a core for most of the 100 ms, or waiting for one: the two add up to the time passed.
    const spent = to.runMs - from.runMs + (to.waitMs - from.waitMs);
    assert.ok(spent >= 90 && spent <= 200, `${spent} ms on a core or waiting for one`);
    assert.match(
      threadTimesSince(from)!,
      /^host: the guest's thread ran \d+\.\d\d s on a core, and waited \d+\.\d\d s for one/,
    );
  },
);

test('without a start, or where the host does not tell, there is no line', () => {
  assert.equal(threadTimesSince(undefined), undefined);
});
