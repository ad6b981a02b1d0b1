/** Open the BlockStore a `--drive` asks for. */
import type { BlockStore } from '../devices/virtio/backends.js';
import type { DriveSpec } from './drive-options.js';
import { RawFileStore } from './block-file.js';
import { MemoryCowStore, OverlayStore } from './block-cow.js';
import type { ImageFile } from './image-file.js';

/** `base`: the base image already open (copy-on-write modes); else it is opened by path. */
export function openDrive(spec: DriveSpec, baseDigest?: string, base?: ImageFile): BlockStore {
  if (spec.snapshot) return new MemoryCowStore(base ?? spec.file, spec.readOnly);
  if (spec.overlay)
    return new OverlayStore(base ?? spec.file, spec.overlay, spec.readOnly, baseDigest);
  return new RawFileStore(spec.file, spec.readOnly);
}

export function describeDrive(spec: DriveSpec): string {
  const mode = spec.snapshot
    ? 'snapshot: writes kept in memory'
    : spec.overlay
      ? `writes go to overlay ${spec.overlay}`
      : spec.readOnly
        ? 'read-only'
        : 'read-write';
  return `${spec.file} (${mode})`;
}
