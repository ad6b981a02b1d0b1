/**
 * How the compressed-instruction table (rvc.ts) passes between processes:
 * the CLI's loader (src/host/bundle-loader.ts) keeps the table a process
 * made in a file beside the bundle, and hands it to the next process's
 * bundle through this global before the bundle runs; rvc.ts takes it there
 * (after checking it) or computes one, and leaves the table it uses there
 * for the loader to keep. A module of its own so that the loader names the
 * global without loading rvc.ts, whose load makes the table.
 */
export const RVC_TABLE_GLOBAL = '__vmrsRvcTable';

/** Entries in the table: one per 16-bit encoding. */
export const RVC_ENTRIES = 65536;
