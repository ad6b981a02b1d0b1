import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNetOption, NetBackendError } from '../../src/host/net-options.js';
import { FramedStream } from '../../src/host/net-stream.js';
import { openNetBackend } from '../../src/host/net-backend.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-net-'));

test('--net parsing', () => {
  assert.deepEqual(parseNetOption('user'), { kind: 'user', hostfwd: [], mac: undefined });
  const u = parseNetOption(
    'user,hostfwd=tcp::8080-:80,hostfwd=udp:127.0.0.1:5353-:53,mac=52:54:00:ab:cd:ef',
  );
  assert.ok(u.kind === 'user');
  assert.deepEqual(u.hostfwd, [
    { proto: 'tcp', hostAddr: undefined, hostPort: 8080, guestPort: 80 },
    { proto: 'udp', hostAddr: '127.0.0.1', hostPort: 5353, guestPort: 53 },
  ]);
  assert.deepEqual(u.mac, Uint8Array.of(0x52, 0x54, 0, 0xab, 0xcd, 0xef));
  assert.deepEqual(parseNetOption('socket,listen=/tmp/w'), {
    kind: 'socket',
    mode: 'listen',
    path: '/tmp/w',
    mac: undefined,
  });
  for (const bad of [
    'tap',
    'user,hostfwd=tcp::0-:80',
    'user,hostfwd=tcp::1-:99999',
    'socket',
    'socket,listen=a,connect=b',
    'user,mac=zz',
    'user,listen=x',
    // Longer than a UNIX socket's path may be (sun_path): it would be cut short silently.
    `socket,listen=/tmp/${'a'.repeat(104)}`,
    `socket,connect=/tmp/${'é'.repeat(52)}`,
  ])
    assert.throws(() => parseNetOption(bad), NetBackendError, bad);
});

let pairs = 0;
async function pair(): Promise<[Socket, Socket]> {
  const path = join(dir, `p${pairs++}.sock`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const c = connect(path);
  const s = await accepted;
  server.close();
  return [c, s];
}

test('framed stream: sizes, coalesced and split frames, bad lengths', async () => {
  const [a, b] = await pair();
  const got: Uint8Array[] = [];
  let closedWith: string | undefined = 'open';
  const A = new FramedStream(
    a,
    () => {},
    () => {},
  );
  const B = new FramedStream(
    b,
    (f) => got.push(f),
    (e) => (closedWith = e),
  );
  const frames = [1, 60, 1514, 65535].map((n) =>
    Uint8Array.from({ length: n }, (_, i) => (i + n) & 0xff),
  );
  for (const f of frames) A.send(f);
  // One frame written a byte at a time.
  const raw = Buffer.alloc(4 + 5);
  raw.writeUInt32BE(5, 0);
  raw.set([9, 8, 7, 6, 5], 4);
  for (const byte of raw) a.write(Buffer.of(byte));
  await waitUntil(() => got.length >= 5, 'five frames');
  assert.deepEqual(got, [...frames, Uint8Array.of(9, 8, 7, 6, 5)]);
  a.write(Buffer.from([0, 0, 0, 0])); // length 0: a protocol error
  await waitUntil(() => closedWith !== 'open', 'the stream to close on a bad length');
  assert.match(closedWith ?? '', /bad frame length 0/);
  assert.equal(B.open, false);
  B.send(new Uint8Array(10)); // after close: dropped, no throw
  assert.equal(B.stats.dropped, 1);
  A.close();
});

test('socket wire: listen and connect, frames both ways, unplug and replug', async () => {
  const path = join(dir, 'wire.sock');
  const inA: Uint8Array<ArrayBufferLike>[] = [];
  const inB: Uint8Array<ArrayBufferLike>[] = [];
  const linkA: boolean[] = [];
  const A = await openNetBackend(
    { kind: 'socket', mode: 'listen', path },
    { onFrame: (f) => inA.push(f), onLink: (u) => linkA.push(u) },
  );
  assert.equal(A.linkUp, false);
  A.send(new Uint8Array(20)); // no peer yet: dropped like an unplugged cable
  let B = await openNetBackend(
    { kind: 'socket', mode: 'connect', path },
    { onFrame: (f) => inB.push(f), onLink: () => {} },
  );
  await waitUntil(() => A.linkUp, 'the listening end to see its peer');
  A.send(Uint8Array.of(1, 2, 3));
  B.send(Uint8Array.of(4, 5));
  await waitUntil(() => inA.length > 0 && inB.length > 0, 'a frame each way');
  assert.deepEqual([...inB], [Uint8Array.of(1, 2, 3)]);
  assert.deepEqual([...inA], [Uint8Array.of(4, 5)]);
  await B.close();
  await waitUntil(() => !A.linkUp, 'the link to go down when the peer leaves');
  B = await openNetBackend(
    { kind: 'socket', mode: 'connect', path },
    { onFrame: (f) => inB.push(f), onLink: () => {} },
  );
  await waitUntil(() => linkA.length >= 3, 'the link to come up again');
  assert.deepEqual(linkA, [true, false, true]);
  await B.close();
  await A.close();
  await assert.rejects(
    openNetBackend(
      { kind: 'socket', mode: 'connect', path: join(dir, 'nobody.sock') },
      { onFrame: () => {}, onLink: () => {} },
    ),
    /cannot connect/,
  );
});

test('the longest socket path accepted is one a socket really gets, under its full name', async () => {
  const longest = join(dir, 'l'.repeat(108 - Buffer.byteLength(dir) - 1));
  assert.equal(Buffer.byteLength(longest), 108);
  const spec = parseNetOption(`socket,listen=${longest}`);
  assert.ok(spec.kind === 'socket');
  const L = await openNetBackend(spec, { onFrame: () => {}, onLink: () => {} });
  assert.ok(existsSync(longest));
  await L.close();
  assert.ok(!existsSync(longest), 'removed when closed');
});
