/**
 * `--drive` as QEMU users know it:
 *   --drive file=F[,format=raw][,readonly=on][,snapshot=on][,overlay=F2][,serial=S]
 * or just `--drive F`.
 */
import { basename } from 'node:path';

export class DriveError extends Error {}

export interface DriveSpec {
  file: string;
  readOnly: boolean;
  /** Writes go to memory and vanish at exit. */
  snapshot: boolean;
  /** Writes go to this copy-on-write overlay file; the base is never written. */
  overlay?: string;
  /** virtio-blk GET_ID string, at most 20 bytes. */
  serial: string;
}

const KEYS = ['file', 'format', 'readonly', 'snapshot', 'overlay', 'serial'];

function onOff(key: string, v: string): boolean {
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  throw new DriveError(`--drive: ${key}=${v}: expected on or off`);
}

export function parseDriveOption(spec: string): DriveSpec {
  const fields = new Map<string, string>();
  if (!spec.includes('=')) fields.set('file', spec);
  else
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      if (eq < 0) throw new DriveError(`--drive: '${part}' is not key=value`);
      const k = part.slice(0, eq);
      if (!KEYS.includes(k))
        throw new DriveError(`--drive: unknown key '${k}' (known: ${KEYS.join(', ')})`);
      if (fields.has(k)) throw new DriveError(`--drive: '${k}' given twice`);
      fields.set(k, part.slice(eq + 1));
    }
  const file = fields.get('file');
  if (!file) throw new DriveError('--drive: file= is required');
  const format = fields.get('format') ?? 'raw';
  if (format !== 'raw')
    throw new DriveError(`--drive: format '${format}' is not supported (raw only)`);
  const snapshot = onOff('snapshot', fields.get('snapshot') ?? 'off');
  const overlay = fields.get('overlay');
  if (overlay !== undefined && !overlay)
    throw new DriveError('--drive: overlay= needs a file name');
  if (snapshot && overlay)
    throw new DriveError('--drive: snapshot=on and overlay= exclude each other');
  const serial = fields.get('serial') ?? basename(file).slice(0, 20);
  if (serial.length > 20 || /[^\x20-\x7e]/.test(serial))
    throw new DriveError('--drive: serial must be at most 20 printable ASCII characters');
  return {
    file,
    readOnly: onOff('readonly', fields.get('readonly') ?? 'off'),
    snapshot,
    overlay,
    serial,
  };
}
