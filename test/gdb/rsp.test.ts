import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PACKET, RspCodec, checksum, fromHex, reg64Hex } from '../../src/gdb/rsp.js';
import { targetXml } from '../../src/gdb/target-xml.js';
import { spawnSync } from 'node:child_process';
import { needTools } from '../helpers/tools.js';

function codec() {
  const wrote: string[] = [];
  const packets: string[] = [];
  const events: string[] = [];
  const c = new RspCodec((s) => wrote.push(s), {
    packet: (p) => packets.push(p),
    interrupt: () => events.push('int'),
    abuse: (why) => events.push(`abuse: ${why}`),
  });
  return { c, wrote, packets, events };
}
const frame = (s: string) => `$${s}#${checksum(s).toString(16).padStart(2, '0')}`;

test('packets split anywhere are reassembled, acknowledged, and checked', () => {
  const { c, wrote, packets } = codec();
  const stream = frame('qSupported:swbreak+') + '+' + frame('g') + '$m0,4#00' + frame('?');
  for (const ch of stream) c.feed(ch);
  assert.deepEqual(packets, ['qSupported:swbreak+', 'g', '?']);
  assert.deepEqual(wrote, ['+', '+', '-', '+']);
  c.noAck = true;
  c.feed(frame('s'));
  assert.deepEqual(wrote.length, 4, 'no acks in no-ack mode');
});

test('escapes both ways; Ctrl-C between packets interrupts', () => {
  const { c, wrote, packets, events } = codec();
  c.send('a$b#c}d*e');
  assert.equal(wrote[0].slice(0, -3), '$a}\x04b}\x03c}]d}\ne');
  const body = 'X0,3:}\x03}\x04}]';
  c.feed(`\x03$${body}#${checksum(body).toString(16).padStart(2, '0')}`);
  assert.deepEqual(events, ['int']);
  assert.deepEqual(packets, ['X0,3:#$}']);
});

test('an oversized packet is reported, once, without growing without end', () => {
  const { c, events } = codec();
  const big = 'a'.repeat(64 * 1024);
  c.feed('$');
  for (let i = 0; i * big.length <= MAX_PACKET + big.length; i++) c.feed(big);
  assert.equal(events.length, 1);
  assert.match(events[0], /abuse: packet longer/);
});

test('hex helpers and 64-bit registers are little-endian', () => {
  assert.equal(reg64Hex(0x11223344, 0x55667788), '4433221188776655');
  assert.deepEqual(Array.from(fromHex('00ff10')), [0, 255, 16]);
  assert.throws(() => fromHex('0g'));
  assert.throws(() => fromHex('abc'));
});

test('the target description is well-formed XML naming the RISC-V features', () => {
  const xml = targetXml();
  for (const f of ['org.gnu.gdb.riscv.cpu', 'org.gnu.gdb.riscv.fpu', 'org.gnu.gdb.riscv.csr'])
    assert.ok(xml.includes(`name="${f}"`), f);
  assert.match(xml, /<reg name="pc" bitsize="64" type="code_ptr" regnum="32"\/>/);
  assert.match(xml, /<reg name="mstatus" bitsize="64" type="int" regnum="833"/);
});

test('xmllint finds the target description well-formed', (t) => {
  if (!needTools(t, 'xmllint')) return;
  const xml = targetXml();
  const r = spawnSync('xmllint', ['--noout', '-'], {
    input: xml.replace(/<!DOCTYPE[^>]*>/, ''),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  // xmllint does reject what is not well-formed: the check can fail.
  const broken = spawnSync('xmllint', ['--noout', '-'], { input: xml.replace('</feature>', '') });
  assert.notEqual(broken.status, 0);
});
