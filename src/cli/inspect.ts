/** `vmrs inspect FILE [--json]`: what a recording holds. */
import { statSync } from 'node:fs';
import { readRecordingFile } from './open-replay.js';
import { END_KINDS, EVENT_NAMES, EventType } from '../replay/events.js';
import { TIMEBASE_HZ } from '../machine/clock.js';
import type { ParsedRecording } from '../replay/log-format.js';

export function inspectCommand(file: string, opts: { json?: boolean }): number {
  // `vmrs inspect | head`: the reader went, so the report ends there, as SIGPIPE would end it.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') process.stderr.write(`vmrs: cannot write the report: ${e.message}\n`);
    process.exit(e.code === 'EPIPE' ? 141 : 1);
  });
  const rec = readRecordingFile(file);
  try {
    return inspectRecording(file, rec, opts);
  } finally {
    rec.source.close?.();
  }
}

function inspectRecording(file: string, rec: ParsedRecording, opts: { json?: boolean }): number {
  const h = rec.header;
  const byType: Record<string, { count: number; bytes: number }> = {};
  let idleTicks = 0;
  const startIcount = h.startIcount ?? 0;
  let lastIcount = startIcount;
  let end: { kind: string; status: number } | undefined;
  // Streamed: events are counted as they are decoded, none kept.
  for (const c = rec.events.cursor(); c.peek(); c.advance()) {
    const ev = c.peek()!;
    const name = EVENT_NAMES[ev.type] ?? `type-${ev.type}`;
    const t = (byType[name] ??= { count: 0, bytes: 0 });
    t.count++;
    t.bytes += ev.data.length;
    lastIcount = ev.icount;
    if (ev.type === EventType.IdleJump)
      idleTicks = ev.value - Math.floor(ev.icount / h.machine.insnsPerTick);
    if (ev.type === EventType.End) end = { kind: END_KINDS[ev.arg] ?? 'stopped', status: ev.value };
  }
  const guestSeconds = (Math.floor(lastIcount / h.machine.insnsPerTick) + idleTicks) / TIMEBASE_HZ;
  const info = {
    file,
    fileBytes: statSync(file).size,
    formatVersion: h.formatVersion,
    vmrsVersion: h.vmrsVersion,
    created: new Date(h.createdUnixMs).toISOString(),
    machine: h.machine,
    rtcStart: new Date(h.machine.rtcStartUnixNs / 1e6).toISOString(),
    images: { bios: h.bios, kernel: h.kernel, initrd: h.initrd ?? null },
    devices: h.devices,
    snapshot: h.snapshot ?? null,
    startIcount,
    /** Instructions recorded: from startIcount (0 for a boot) to the end. */
    instructions: lastIcount - startIcount,
    guestSeconds,
    digestInterval: h.digestInterval,
    events: byType,
    chunks: rec.chunks,
    /** Found through the file's index (false: by a scan; the recorder did not finish, or an older format). */
    indexed: rec.indexed,
    checkpoints: rec.checkpoints.map((c) => ({
      seq: c.seq,
      icount: c.icount,
      bytes: c.storedLength,
      rawBytes: c.rawLength,
    })),
    complete: end !== undefined && !rec.damage && !rec.events.damage,
    end: end ?? null,
    damage: rec.events.damage ?? rec.damage ?? null,
    notes: rec.notes,
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    return 0;
  }
  const img = (what: string, r: typeof h.kernel | 'none' | undefined) =>
    r === undefined
      ? ''
      : r === 'none'
        ? `  ${what.padEnd(8)} none\n`
        : `  ${what.padEnd(8)} ${r.path} (${r.size} bytes, sha256 ${r.sha256.slice(0, 16)}…${r.embedded ? ', embedded' : ''})\n`;
  let s = `recording ${file} (${info.fileBytes} bytes, format ${h.formatVersion}, vmrs ${h.vmrsVersion}, made ${info.created})\n`;
  s += `machine   ${h.machine.memoryBytes / 1048576} MiB RAM, ${h.machine.insnsPerTick} instructions per tick, console on ${h.machine.consoleOn}\n`;
  s += `          append "${h.machine.append}"\n`;
  s += `          RTC started at ${info.rtcStart}\n`;
  s += 'images\n' + img('bios', h.bios) + img('kernel', h.kernel) + img('initrd', h.initrd);
  for (const d of h.devices)
    s +=
      d.kind === 'blk'
        ? `  disk     ${d.disk.path} (${d.disk.size} bytes, sha256 ${d.disk.sha256.slice(0, 16)}…${d.disk.readOnly ? ', read-only' : ''})\n`
        : d.kind === 'net'
          ? `  net      ${d.backend}, mac ${d.mac}\n`
          : `  ${d.kind}\n`;
  if (h.snapshot)
    s += `start     snapshot ${h.snapshot.path} (${h.snapshot.size} bytes, sha256 ${h.snapshot.sha256.slice(0, 16)}…${h.snapshot.embedded ? ', embedded' : ''})${h.startIcount !== undefined ? ` at icount ${h.startIcount}` : ''}\n`;
  s += h.snapshot
    ? `guest     ${lastIcount - startIcount} instructions recorded, to icount ${lastIcount} and ${guestSeconds.toFixed(3)} s of guest time\n`
    : `guest     ${lastIcount} instructions, ${guestSeconds.toFixed(3)} s of guest time\n`;
  s +=
    h.digestInterval > 0
      ? `digests   every ${h.digestInterval} instructions (or more apart where the guest ran fast)\n`
      : 'digests   none (recorded with --digest-interval 0)\n';
  s += `events    (${rec.chunks} chunks)\n`;
  for (const [name, t] of Object.entries(byType))
    s += `  ${name.padEnd(10)} ${String(t.count).padStart(8)} events ${String(t.bytes).padStart(10)} bytes\n`;
  if (rec.checkpoints.length) {
    const total = rec.checkpoints.reduce((a, c) => a + c.storedLength, 0);
    s += `checkpoints ${rec.checkpoints.length}, ${(total / 1048576).toFixed(1)} MiB${rec.indexed ? '' : ' (found by a scan: the file has no index)'}\n`;
    for (const c of rec.checkpoints)
      s += `  #${String(c.seq).padEnd(4)} icount ${String(c.icount).padStart(12)} ${(c.storedLength / 1024).toFixed(0).padStart(8)} KiB (${(c.rawLength / 1048576).toFixed(1)} MiB raw)\n`;
  } else s += `checkpoints none${rec.version < 3 ? ` (format ${rec.version} has none)` : ''}\n`;
  s += end
    ? `end       guest ${end.kind}, status ${end.status}\n`
    : 'end       none: the recording was cut short\n';
  for (const n of rec.notes) s += `note      at icount ${n.icount}: ${n.text}\n`;
  const damage = rec.events.damage ?? rec.damage;
  if (damage) s += `damage    ${damage}\n`;
  process.stdout.write(s);
  return 0;
}
