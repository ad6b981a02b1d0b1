/**
 * The recording as the host reads it: a read after close is refused (its
 * descriptor may name another file by then), and a host read failure is
 * not taken for a recording cut short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingFile, RecordingReadError } from '../../src/host/recording-file.js';
import { EventLog } from '../../src/replay/event-log.js';
import { readRecording } from '../../src/replay/log-format.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-recfile-'));

test('a recording file read after it was closed throws, naming it', () => {
  const path = join(dir, 'some.bin');
  writeFileSync(path, new Uint8Array(100).fill(7));
  const f = RecordingFile.open(path);
  assert.deepEqual(f.read(10, 4), new Uint8Array(4).fill(7));
  f.close();
  assert.throws(
    () => f.read(10, 4),
    (e: unknown) =>
      e instanceof RecordingReadError &&
      /was read after it was closed/.test((e as Error).message) &&
      (e as Error).message.includes(path),
  );
});

test('an event log whose source fails to read throws; damage in the data ends the log instead', async () => {
  // A real recording: the bare-metal fixture in test/fixtures.
  const file = join('test', 'fixtures', 'v3-checkpoint-loop.vmrs');
  const rec = readRecording(RecordingFile.open(file));
  const chunks = rec.events.chunks;
  assert.ok(chunks.length > 0);
  // The same chunks through a source that fails as a disk would.
  const failing = {
    size: rec.source.size,
    read: () => {
      throw new RecordingReadError('cannot read the recording (EIO)');
    },
  };
  const log = new EventLog(failing, chunks);
  assert.throws(() => log.cursor().peek(), /EIO/);
  // A source whose bytes are damaged: the log just ends (a cut-short recording).
  const zeros = { size: rec.source.size, read: (_at: number, len: number) => new Uint8Array(len) };
  const damaged = new EventLog(zeros, chunks);
  assert.equal(damaged.cursor().peek(), undefined);
  assert.match(damaged.damage ?? '', /missing/);
});
