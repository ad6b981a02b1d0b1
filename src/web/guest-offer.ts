/**
 * The guest a `vmrs serve` offers the page to boot as a live machine
 * (GET api/guest), and the check of what came over the network. Kept apart
 * from live-machine.ts so that the page reads it without bundling the core.
 */
import type { ImageRef, MachineInfo } from '../replay/log-format.js';

/** The offer is not one this page reads. */
export class GuestOfferError extends Error {}

/** What `vmrs serve` says of the guest it offers (GET api/guest). */
export interface GuestOffer {
  /** How the server names it ('the default guest'). */
  name: string;
  /** memoryBytes, append, insnsPerTick, consoleOn (no RTC start: that is the page's clock). */
  machine: Omit<MachineInfo, 'rtcStartUnixNs'>;
  bios: ImageRef | 'none';
  kernel: ImageRef;
  initrd?: ImageRef;
}

/** Check a parsed api/guest answer (it comes over the network). */
export function parseGuestOffer(v: unknown): GuestOffer {
  const o = v as GuestOffer;
  const isRef = (r: unknown): r is ImageRef =>
    typeof r === 'object' &&
    r !== null &&
    typeof (r as ImageRef).path === 'string' &&
    typeof (r as ImageRef).sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test((r as ImageRef).sha256) &&
    Number.isSafeInteger((r as ImageRef).size);
  const m = o?.machine;
  if (
    typeof o !== 'object' ||
    typeof o.name !== 'string' ||
    typeof m !== 'object' ||
    !Number.isSafeInteger(m.memoryBytes) ||
    !Number.isSafeInteger(m.insnsPerTick) ||
    typeof m.append !== 'string' ||
    // The page's terminal is the UART: no virtio console here yet.
    m.consoleOn !== 'uart' ||
    !(o.bios === 'none' || isRef(o.bios)) ||
    !isRef(o.kernel) ||
    !(o.initrd === undefined || isRef(o.initrd))
  )
    throw new GuestOfferError("the server's description of its guest is not one this page reads");
  return o;
}
