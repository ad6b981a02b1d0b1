/**
 * Say on stderr when a virtio device stops with DEVICE_NEEDS_RESET (a guest
 * programmed it wildly: the guest sees the status, the host goes on), even
 * with -q, or the guest's lost disk, console or network would go
 * unexplained. The same words under run, record and replay: a replay stops
 * the device at the icount the recording did, and says so.
 */
import type { VirtMachine } from '../machine/virt.js';

/** Most failures shown per device: a guest that resets and breaks one in a loop must not flood stderr. */
const FAILURES_SHOWN = 5;

export function reportDeviceFailures(
  vm: VirtMachine,
  write: (line: string) => void = (s) => process.stderr.write(s),
): void {
  for (const t of vm.virtio) {
    // A replay under GDB passes the same point again after a reverse step: say it once.
    const shown = new Set<number>();
    t.onFail = (name, reason) => {
      const at = vm.cpu.icount;
      if (shown.has(at) || shown.size >= FAILURES_SHOWN) return;
      shown.add(at);
      write(
        `[vmrs] warning: ${name} stopped (DEVICE_NEEDS_RESET) at icount ${at}: ${reason}` +
          `${shown.size === FAILURES_SHOWN ? ' (further failures of this device not shown)' : ''}\n`,
      );
    };
  }
}
