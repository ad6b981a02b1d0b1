/**
 * What a replay builds from a recording's header, wherever it runs (Node:
 * cli/open-replay.ts; the browser: web/replay-machine.ts): the machine's
 * configuration once its images are loaded, and the virtio devices that
 * need no host — NICs fed only from the log, entropy from the gate, the
 * consoles. Disks are the caller's (their stores are host-specific).
 */
import type { DeviceRef, MachineDescription } from './log-format.js';
import type { VirtConfig, VirtioSpec } from '../machine/virt.js';
import type { ReplayGate } from './replay-gate.js';
import type { BlkRequest, BlkRequestObserver } from '../devices/virtio/blk.js';

/** The images a description names, loaded and checked by the caller. */
export interface LoadedImages {
  bios: Uint8Array | 'none';
  kernel: Uint8Array;
  initrd?: Uint8Array;
}

/** The machine configuration of a description (devices are added by the caller). */
export function virtConfigOf(d: MachineDescription, images: LoadedImages): VirtConfig {
  return {
    memoryBytes: d.machine.memoryBytes,
    bios: images.bios,
    biosName: d.bios === 'none' ? 'none' : d.bios.path,
    kernel: images.kernel,
    kernelName: d.kernel.path,
    initrd: images.initrd,
    initrdName: d.initrd?.path,
    append: d.machine.append,
    insnsPerTick: d.machine.insnsPerTick,
    rtcStartUnixNs: d.machine.rtcStartUnixNs,
  };
}

export interface ReplayDeviceHooks {
  /** The guest's console output (consoles on stdio). */
  stdout: (byte: number) => void;
  /** A frame the guest sent on NIC `nic` (by default nobody hears it). */
  netSent?: (nic: number, frame: Uint8Array) => void;
  /** A request disk `disk` carried out (blk.ts BlkRequestObserver, with the disk's number). */
  diskRequest?: (disk: number, request: BlkRequest) => void;
}

/** What tells `hooks` of disk `disk`'s requests (undefined: nobody listens). */
export function diskRequestObserver(
  disk: number,
  hooks: Pick<ReplayDeviceHooks, 'diskRequest'>,
): BlkRequestObserver | undefined {
  const hear = hooks.diskRequest;
  return hear && ((r) => hear(disk, r));
}

/**
 * The virtio device of slot `d` in a replay, or undefined for a disk. `nic`
 * is the NIC's number among the machine's NICs (the log's numbering).
 */
export function replayDevice(
  d: DeviceRef,
  nic: number,
  gate: ReplayGate,
  hooks: ReplayDeviceHooks,
): VirtioSpec | undefined {
  switch (d.kind) {
    case 'blk':
      return undefined;
    case 'net': {
      const mac = Uint8Array.from(d.mac.split(':'), (x) => parseInt(x, 16));
      // Recordings made before the link state at start went through the gate say
      // linkUp true for every NIC, but a listening wire always started with no peer,
      // link down: the logged link-up of its peer came after. (Newer ones say false.)
      const linkUp = d.linkUp && d.backend !== 'socket listen';
      const sent = hooks.netSent;
      return {
        kind: 'net',
        // What the guest sends goes nowhere in a replay (its answers are in the log); observers may see it.
        sink: { send: sent ? (frame) => sent(nic, frame) : () => {} },
        mac,
        linkUp,
      };
    }
    case 'rng':
      return { kind: 'rng', source: gate };
    case 'console': {
      const out = hooks.stdout;
      return {
        kind: 'console',
        sink: { write: d.target === 'stdio' ? (b) => b.forEach(out) : () => {} },
      };
    }
  }
}
