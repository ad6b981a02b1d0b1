/**
 * Recordings made to hurt the reader: a small file that unpacks into
 * millions of tiny events, and headers that lie. `vmrs inspect` and
 * `vmrs replay` run in a child with a small heap, so a reader that keeps
 * every event dies there (V8 out of memory) instead of passing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMRS_BIN } from '../helpers/guest-session.js';
import { EventChunkEncoder, encodeHeader, encodeImageChunk } from '../../src/replay/log-format.js';
import { headerFor, loopElf } from '../fuzz/crafted.js';
import { EMPTY, EventType } from '../../src/replay/events.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-hostile-'));

/** `events` data-less console events at icount 0, written by the writer in 16 MiB chunks. */
function tinyEventsRecording(events: number): string {
  const kernel = loopElf();
  const parts: Uint8Array[] = [encodeHeader(headerFor(kernel)), encodeImageChunk('kernel', kernel)];
  const enc = new EventChunkEncoder();
  for (let i = 0; i < events; i++) {
    enc.add({ type: EventType.Console, icount: 0, arg: 0, value: 0, data: EMPTY });
    if (enc.pending >= (16 << 20) - 8) parts.push(enc.flush());
  }
  parts.push(enc.flush());
  const file = join(dir, `tiny-${events}.vmrs`);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** vmrs in a child whose JavaScript heap is small: keeping millions of events kills it. */
function vmrsSmallHeap(...args: string[]) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=96', VMRS_BIN, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const EVENTS = 6_000_000;
const tiny = tinyEventsRecording(EVENTS);

test('a small file of millions of tiny events: inspect counts them by streaming', () => {
  assert.ok(statSync(tiny).size < 100_000, `the file is small (${statSync(tiny).size} bytes)`);
  const r = vmrsSmallHeap('inspect', '--json', tiny);
  assert.equal(r.status, 0, `inspect: ${r.signal ?? ''} ${r.stderr.slice(-400)}`);
  const info = JSON.parse(r.stdout) as { events: Record<string, { count: number }> };
  assert.equal(info.events.console.count, EVENTS);
});

test('a small file of millions of tiny events: replay applies them with bounded memory', () => {
  const r = vmrsSmallHeap('replay', tiny);
  // No end marker: the replay goes to the last event and says the recording was cut short.
  assert.equal(r.status, 3, `replay: ${r.signal ?? ''} ${r.stderr.slice(-400)}`);
  assert.match(r.stderr, /ends at icount 0 without an end marker/);
});

test('a recording cut after its header, or inside its embedded image: replay says it ends at its start (status 3), inspect reads it', () => {
  const kernel = loopElf();
  const head = encodeHeader(headerFor(kernel));
  const image = encodeImageChunk('kernel', kernel);
  const cuts = [head.length, head.length + 7, head.length + Math.floor(image.length / 2)];
  for (const cut of cuts) {
    const file = join(dir, `cut-${cut}.vmrs`);
    writeFileSync(file, Buffer.concat([head, image]).subarray(0, cut));
    const r = vmrsSmallHeap('replay', file);
    assert.equal(r.status, 3, `cut at byte ${cut}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /ends at icount 0 without an end marker, before its embedded kernel/,
      `cut at byte ${cut}`,
    );
    assert.equal(r.stdout, '');
    const i = vmrsSmallHeap('inspect', file);
    assert.equal(i.status, 0, `inspect, cut at byte ${cut}: ${i.stderr}`);
  }
});
