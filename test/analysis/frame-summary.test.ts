/** describeFrame and frameFields: one line per frame, from hand-built frames of each kind (and broken ones). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFrame, frameFields } from '../../src/analysis/frame-summary.js';

const MAC_A = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const MAC_B = [0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55];

function ether(type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...MAC_B, ...MAC_A, type >> 8, type & 0xff, ...payload]);
}

function ipv4(proto: number, from: number[], to: number[], rest: number[]): number[] {
  const total = 20 + rest.length;
  return [
    0x45,
    0,
    total >> 8,
    total & 0xff,
    0,
    0,
    0x40,
    0,
    64,
    proto,
    0,
    0,
    ...from,
    ...to,
    ...rest,
  ];
}

const ports = (a: number, b: number) => [a >> 8, a & 0xff, b >> 8, b & 0xff];

test('ARP requests and replies', () => {
  const arp = (op: number) =>
    ether(0x0806, [0, 1, 8, 0, 6, 4, 0, op, ...MAC_A, 10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2]);
  assert.equal(describeFrame(arp(1)), 'ARP who has 10.0.2.2? tell 10.0.2.15, 42 bytes');
  assert.equal(describeFrame(arp(2)), 'ARP 10.0.2.15 is at 52:54:00:12:34:56, 42 bytes');
});

test('TCP with its flags, UDP and ICMP over IPv4', () => {
  const tcp = (flags: number) => [
    ...ports(40000, 80),
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0x50,
    flags,
    0xff,
    0xff,
    0,
    0,
    0,
    0,
  ];
  const from = [10, 0, 2, 15];
  const to = [192, 168, 1, 7];
  assert.equal(
    describeFrame(ether(0x0800, ipv4(6, from, to, tcp(0x02)))),
    'TCP 10.0.2.15:40000 → 192.168.1.7:80 [S], 54 bytes',
  );
  assert.equal(
    describeFrame(ether(0x0800, ipv4(6, from, to, tcp(0x18)))),
    'TCP 10.0.2.15:40000 → 192.168.1.7:80 [P.], 54 bytes',
  );
  assert.equal(
    describeFrame(
      ether(0x0800, ipv4(17, from, [255, 255, 255, 255], [...ports(68, 67), 0, 8, 0, 0])),
    ),
    'UDP 10.0.2.15:68 → 255.255.255.255:67, 42 bytes',
  );
  assert.equal(
    describeFrame(ether(0x0800, ipv4(1, from, to, [8, 0, 0, 0, 0, 1, 0, 1]))),
    'ICMP echo request 10.0.2.15 → 192.168.1.7, 42 bytes',
  );
});

test('IPv6 addresses are written short, ports after brackets; a VLAN tag is stepped over', () => {
  const src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56];
  const dst = [0xff, 0x02, ...new Array<number>(13).fill(0), 2];
  const ip6 = (next: number, rest: number[]) => [
    0x60,
    0,
    0,
    0,
    0,
    rest.length,
    next,
    255,
    ...src,
    ...dst,
    ...rest,
  ];
  assert.equal(
    describeFrame(ether(0x86dd, ip6(58, [133, 0, 0, 0, 0, 0, 0, 0]))),
    'ICMPv6 fe80::5054:ff:fe12:3456 → ff02::2, 62 bytes',
  );
  assert.equal(
    describeFrame(ether(0x86dd, ip6(17, [...ports(546, 547), 0, 8, 0, 0]))),
    'UDP [fe80::5054:ff:fe12:3456]:546 → [ff02::2]:547, 62 bytes',
  );
  const tagged = Uint8Array.from([
    ...MAC_B,
    ...MAC_A,
    0x81,
    0,
    0,
    5,
    0x08,
    0x06,
    ...new Array<number>(28).fill(0),
  ]);
  assert.match(describeFrame(tagged), /^ARP op 0, 46 bytes$/);
});

test('short, cut and unknown frames are described as far as they go, never thrown on', () => {
  assert.equal(describeFrame(new Uint8Array(10)), 'runt frame, 10 bytes');
  assert.equal(describeFrame(ether(0x88cc, [1, 2, 3])), 'ethertype 0x88cc, 17 bytes');
  // An IPv4 header that says TCP, cut before the ports.
  assert.equal(
    describeFrame(ether(0x0800, ipv4(6, [1, 2, 3, 4], [5, 6, 7, 8], [0]))),
    'TCP 1.2.3.4 → 5.6.7.8, 35 bytes',
  );
  // An ARP frame too short to hold its addresses.
  assert.equal(describeFrame(ether(0x0806, [0, 1])), 'ethertype 0x0806, 16 bytes');
});

test('frameFields: the ethertype after a VLAN tag, IP protocol and addresses (what a trace carries)', () => {
  const udp = ether(
    0x0800,
    ipv4(17, [10, 0, 2, 15], [10, 0, 2, 3], [...ports(68, 67), 0, 8, 0, 0]),
  );
  assert.deepEqual(frameFields(udp), {
    ethertype: 0x0800,
    payloadAt: 14,
    ip: { protocol: 17, from: '10.0.2.15', to: '10.0.2.3', at: 34 },
  });
  const src = [0xfe, 0x80, ...new Array<number>(13).fill(0), 1];
  const dst = [0xff, 0x02, ...new Array<number>(13).fill(0), 2];
  const tagged6 = Uint8Array.from([
    ...MAC_B,
    ...MAC_A,
    0x81,
    0,
    0,
    7,
    0x86,
    0xdd,
    ...[0x60, 0, 0, 0, 0, 8, 58, 255, ...src, ...dst, 128, 0, 0, 0, 0, 0, 0, 0],
  ]);
  assert.deepEqual(frameFields(tagged6), {
    ethertype: 0x86dd,
    payloadAt: 18,
    ip: { protocol: 58, from: 'fe80::1', to: 'ff02::2', at: 58 },
  });
  assert.deepEqual(frameFields(ether(0x0806, [0, 1])), { ethertype: 0x0806, payloadAt: 14 });
  assert.equal(frameFields(new Uint8Array(13)), undefined);
  // An IPv4 header cut short is no IP for the trace (describeFrame says the ethertype).
  assert.deepEqual(frameFields(ether(0x0800, [0x45, 0, 0])), { ethertype: 0x0800, payloadAt: 14 });
});
