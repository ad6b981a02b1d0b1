import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rvcTable } from '../../src/cpu/rvc.js';
import { REPO_ROOT } from '../helpers/guest-session.js';

const mod = (p: string) => JSON.stringify(pathToFileURL(join(REPO_ROOT, p)).href);

/** In a worker given `table`: was it the table rvc.ts took, and does that table expand as rvc.ts does? */
async function inWorker(
  table: Int32Array | undefined,
): Promise<{ taken: boolean; right: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-worker-rvc-'));
  const file = join(dir, 'probe.mjs');
  // As verify-worker.ts does: worker-rvc.js first, then what loads rvc.js.
  writeFileSync(
    file,
    `import { parentPort, workerData } from 'node:worker_threads';
     await import(${mod('dist/src/cli/worker-rvc.js')});
     const { rvcTable, computeRvcTable } = await import(${mod('dist/src/cpu/rvc.js')});
     const computed = computeRvcTable();
     parentPort.postMessage({
       taken: workerData.rvcTable !== undefined && rvcTable === workerData.rvcTable,
       right: !rvcTable.some((v, i) => v !== computed[i]),
     });`,
  );
  try {
    const w = new Worker(pathToFileURL(file), { workerData: { rvcTable: table } });
    const m = await new Promise<{ taken: boolean; right: boolean }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    return m;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a worker thread takes its parent's compressed-instruction table, and only a right one", async () => {
  assert.deepEqual(await inWorker(rvcTable), { taken: true, right: true });
  const wrong = rvcTable.slice();
  wrong[251 * 3] ^= 1 << 7;
  assert.deepEqual(await inWorker(wrong), { taken: false, right: true });
  assert.deepEqual(await inWorker(undefined), { taken: false, right: true });
});
