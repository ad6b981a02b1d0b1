/**
 * The console on the host's stdio, driven through fake streams: a fake
 * terminal (isTTY, setRawMode) to check QEMU's escapes (Ctrl-A X quits,
 * Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A H prints help) and the terminal
 * left as it was; a fake pipe, whose bytes all go to the guest as data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { StdioConsole } from '../../src/host/stdio-console.js';

const CTRL_A = '\x01';

class FakeInput extends PassThrough {
  rawModes: boolean[] = [];
  constructor(readonly isTTY: boolean) {
    super();
  }
  setRawMode(mode: boolean): this {
    this.rawModes.push(mode);
    return this;
  }
}

function fakeConsole(isTTY: boolean) {
  const input = new FakeInput(isTTY);
  const output = new PassThrough();
  let written = '';
  output.on('data', (d: Buffer) => (written += d.toString('latin1')));
  const got = { bytes: [] as number[], quits: 0, ends: 0 };
  const con = new StdioConsole(
    {
      onInput: (b) => got.bytes.push(...b),
      onQuit: () => got.quits++,
      onEnd: () => got.ends++,
    },
    input as unknown as NodeJS.ReadStream,
    output as unknown as NodeJS.WriteStream,
  );
  /** Type `s` as one chunk and wait until the console has handled it. */
  const type = async (s: string) => {
    const handled = once(input, 'data');
    input.write(Buffer.from(s, 'latin1'));
    await handled;
  };
  const text = () => String.fromCharCode(...got.bytes);
  return { con, input, output, got, type, text, written: () => written };
}

test('on a terminal: raw mode while running, restored at stop', () => {
  const c = fakeConsole(true);
  c.con.start();
  assert.deepEqual(c.input.rawModes, [true]);
  c.con.stop();
  assert.deepEqual(c.input.rawModes, [true, false]);
});

test('Ctrl-A Ctrl-A sends one Ctrl-A; other bytes pass unchanged', async () => {
  const c = fakeConsole(true);
  c.con.start();
  await c.type(`ls${CTRL_A}${CTRL_A}x\r\x03\x7f`);
  assert.equal(c.text(), `ls${CTRL_A}x\r\x03\x7f`, 'the x after a sent Ctrl-A is only an x');
  assert.equal(c.got.quits, 0);
  c.con.stop();
});

test('Ctrl-A X quits: what came before is delivered, nothing after', async () => {
  for (const x of ['x', 'X']) {
    const c = fakeConsole(true);
    c.con.start();
    await c.type(`echo hi${CTRL_A}${x}poweroff\r`);
    assert.equal(c.text(), 'echo hi');
    assert.equal(c.got.quits, 1, `Ctrl-A ${x}`);
    c.con.stop();
  }
});

test('an escape split across two reads still works', async () => {
  const c = fakeConsole(true);
  c.con.start();
  await c.type(`a${CTRL_A}`);
  assert.equal(c.text(), 'a', 'a lone Ctrl-A waits for the next byte');
  await c.type(CTRL_A);
  assert.equal(c.text(), `a${CTRL_A}`);
  await c.type(`b${CTRL_A}`);
  await c.type('x');
  assert.equal(c.got.quits, 1);
  assert.equal(c.text(), `a${CTRL_A}b`);
  c.con.stop();
});

test('Ctrl-A H prints the escapes on the terminal and sends nothing', async () => {
  const c = fakeConsole(true);
  c.con.start();
  const printed = once(c.output, 'data');
  await c.type(`${CTRL_A}h`);
  await printed;
  assert.equal(c.got.bytes.length, 0);
  assert.match(c.written(), /C-a x\s+exit vmrs/);
  assert.match(c.written(), /C-a C-a\s+send C-a/);
  c.con.stop();
});

test('from a pipe: no raw mode, every byte is data (Ctrl-A X included), end of input reported', async () => {
  const c = fakeConsole(false);
  c.con.start();
  await c.type(`a${CTRL_A}x${CTRL_A}${CTRL_A}b`);
  assert.equal(c.text(), `a${CTRL_A}x${CTRL_A}${CTRL_A}b`);
  assert.equal(c.got.quits, 0);
  const ended = once(c.input, 'end');
  c.input.end();
  await ended;
  assert.equal(c.got.ends, 1);
  c.con.stop();
  assert.deepEqual(c.input.rawModes, []);
});

test('guest output is buffered and written at flush, byte for byte', async () => {
  const c = fakeConsole(true);
  c.con.start();
  for (const b of Buffer.from('boot\r\n\x1b[0m\xff', 'latin1')) c.con.write(b);
  c.con.writeBytes(Uint8Array.of(0, 1, 2));
  assert.equal(c.written(), '', 'nothing before flush');
  const flushed = once(c.output, 'data');
  c.con.flush();
  await flushed;
  assert.equal(c.written(), 'boot\r\n\x1b[0m\xff\x00\x01\x02');
  c.con.stop();
});
