/**
 * A worker thread's first import (verify-worker.ts): the parent's
 * compressed-instruction table, from workerData, where rvc.ts takes it when
 * it loads (cpu/rvc-handover.ts; rvc.ts checks it). Computing it took each
 * worker 15-26 ms of its start. It must load before anything that loads
 * rvc.ts: ES modules run in the order their imports appear.
 */
import { workerData } from 'node:worker_threads';
import { RVC_TABLE_GLOBAL } from '../cpu/rvc-handover.js';

/** What a parent passes in workerData for this. */
export interface RvcWorkerData {
  rvcTable?: Int32Array;
}

const table = (workerData as RvcWorkerData | null | undefined)?.rvcTable;
if (table !== undefined) (globalThis as Record<string, unknown>)[RVC_TABLE_GLOBAL] = table;
