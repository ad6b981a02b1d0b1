/**
 * Checks of what a recording's or a snapshot's header says of the machine:
 * every field a reader relies on is there, of the right kind and within the
 * bounds the command line itself accepts. The JSON is checksummed, but a
 * checksum only proves the header is what a writer wrote, not that a vmrs
 * wrote it: a crafted header must get a clear message, not a machine of
 * impossible shape or an exception from deep inside.
 */

/** Bounds shared with the command line (src/cli/options.ts, src/cli/run.ts). */
export const MIN_MEMORY_BYTES = 1 << 20;
export const MAX_MEMORY_BYTES = 16 * 1024 ** 3;
export const MAX_INSNS_PER_TICK = 1000;
/** The virt board's virtio-mmio slots. */
export const MAX_DEVICES = 8;
/** Longer than any kernel command line (Linux takes 2 KiB at most on RISC-V). */
const MAX_APPEND = 64 << 10;
/** A path, serial or version string of a sane length. */
const MAX_TEXT = 4096;
/** virtio-blk's serial is a 20-byte config field (§5.2.4). */
const MAX_SERIAL = 20;
/** An image larger than this cannot be a machine's firmware, kernel or disk here. */
const MAX_IMAGE_BYTES = 2 ** 50;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isText = (v: unknown, max = MAX_TEXT): v is string =>
  typeof v === 'string' && v.length <= max;

/** Problems of an image reference (path, size, digest, embedded), as phrases naming the field. */
export function imageRefProblems(v: unknown, where: string): string[] {
  if (!isObj(v)) return [`${where} is not an image reference`];
  const p: string[] = [];
  if (!isText(v.path)) p.push(`${where}.path is not a path`);
  if (!isUint(v.size, MAX_IMAGE_BYTES)) p.push(`${where}.size is not a size in bytes`);
  if (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256))
    p.push(`${where}.sha256 is not a SHA-256 digest`);
  if (typeof v.embedded !== 'boolean') p.push(`${where}.embedded is not true or false`);
  return p;
}

function deviceProblems(d: unknown, where: string): string[] {
  if (!isObj(d)) return [`${where} is not a device`];
  switch (d.kind) {
    case 'blk': {
      const p = imageRefProblems(d.disk, `${where}.disk`);
      if (isObj(d.disk)) {
        if (!isText(d.disk.serial, MAX_SERIAL)) p.push(`${where}.disk.serial is not a serial`);
        if (typeof d.disk.readOnly !== 'boolean')
          p.push(`${where}.disk.readOnly is not true or false`);
      }
      return p;
    }
    case 'net': {
      const p: string[] = [];
      if (typeof d.mac !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(d.mac))
        p.push(`${where}.mac is not a MAC address`);
      if (typeof d.linkUp !== 'boolean') p.push(`${where}.linkUp is not true or false`);
      if (!isText(d.backend)) p.push(`${where}.backend is not a name`);
      return p;
    }
    case 'rng':
      return [];
    case 'console':
      return d.target === 'stdio' || d.target === 'file'
        ? []
        : [`${where}.target is not 'stdio' or 'file'`];
    default:
      return [`${where} is of unknown kind ${JSON.stringify(String(d.kind)).slice(0, 40)}`];
  }
}

/**
 * Problems of a machine description (MachineDescription in log-format.ts)
 * and of the file stamp every header carries; empty when all is well.
 */
export function descriptionProblems(o: unknown): string[] {
  if (!isObj(o)) return ['the header is not an object'];
  const p: string[] = [];
  const m = o.machine;
  if (!isObj(m)) p.push('machine is missing');
  else {
    if (
      !isUint(m.memoryBytes, MAX_MEMORY_BYTES) ||
      m.memoryBytes < MIN_MEMORY_BYTES ||
      m.memoryBytes % 4096 !== 0
    )
      p.push(
        `machine.memoryBytes is not a memory size (whole 4 KiB pages, ${MIN_MEMORY_BYTES} to ${MAX_MEMORY_BYTES} bytes)`,
      );
    if (!isUint(m.insnsPerTick, MAX_INSNS_PER_TICK) || m.insnsPerTick < 1)
      p.push(`machine.insnsPerTick is not from 1 to ${MAX_INSNS_PER_TICK}`);
    if (
      typeof m.rtcStartUnixNs !== 'number' ||
      !Number.isFinite(m.rtcStartUnixNs) ||
      m.rtcStartUnixNs < 0 ||
      m.rtcStartUnixNs >= 2 ** 63
    )
      p.push('machine.rtcStartUnixNs is not a time in nanoseconds');
    if (!isText(m.append, MAX_APPEND)) p.push('machine.append is not a kernel command line');
    if (m.consoleOn !== undefined && m.consoleOn !== 'uart' && m.consoleOn !== 'hvc')
      p.push(`machine.consoleOn is not 'uart' or 'hvc'`);
  }
  if (o.bios !== 'none') p.push(...imageRefProblems(o.bios, 'bios'));
  p.push(...imageRefProblems(o.kernel, 'kernel'));
  if (o.initrd !== undefined && o.initrd !== null) p.push(...imageRefProblems(o.initrd, 'initrd'));
  if (!Array.isArray(o.devices)) p.push('devices is missing');
  else if (o.devices.length > MAX_DEVICES)
    p.push(`devices lists ${o.devices.length} devices; the board has ${MAX_DEVICES} slots`);
  else o.devices.forEach((d, i) => p.push(...deviceProblems(d, `devices[${i}]`)));
  if (!isUint(o.formatVersion)) p.push('formatVersion is missing');
  if (!isText(o.vmrsVersion, 200)) p.push('vmrsVersion is missing');
  // A JavaScript Date spans ±8.64e15 ms.
  if (typeof o.createdUnixMs !== 'number' || !(Math.abs(o.createdUnixMs) <= 8.64e15))
    p.push('createdUnixMs is not a time in milliseconds');
  return p;
}

/** The problems as one sentence (at most a few named, so a message stays one line). */
export function sayProblems(p: string[]): string {
  const shown = p.slice(0, 4).join('; ');
  return p.length > 4 ? `${shown}; and ${p.length - 4} more` : shown;
}

export { isUint };
