/**
 * RAM as an array of immutable 4 KiB page copies, shared between
 * successive captures: a capture copies only the pages written since the
 * previous one (the bus's dirty-page flags), so checkpoints taken every few
 * million instructions cost what the guest wrote in between, not all of RAM.
 */
import { nextFlagged } from '../util/page-flags.js';
import { bytesEqual, ZERO_PAGE } from '../util/bytes-equal.js';
import type { VirtMachine } from '../machine/virt.js';

const PAGE = 4096;

export type PageRefs = Uint8Array[];

/** RAM page `p` (of `ram8`) holds the bytes of `page`. */
export function ramPageEquals(ram8: Uint8Array, p: number, page: Uint8Array): boolean {
  return bytesEqual(ram8.subarray(p * PAGE, p * PAGE + PAGE), page);
}

/**
 * Make every RAM page hold `pageOf(p)` (undefined: zeros), writing only the
 * pages that differ, each flagged as written behind the hart's back
 * (Bus.noteDmaWrite: its translated blocks and the translations built on it
 * go, digests and checkpoints see it written). Pages never written since
 * the machine was made are not read (Bus.pageIsZero): zeroing all of a fresh
 * 256 MiB machine took 0.85 s of page faults here.
 */
export function putRamPages(
  vm: Pick<VirtMachine, 'bus'>,
  pageOf: (p: number) => Uint8Array | undefined,
): void {
  const bus = vm.bus;
  const ram8 = bus.ram8;
  const pages = ram8.length / PAGE;
  for (let p = 0; p < pages; p++) {
    const page = pageOf(p);
    if (page === undefined) {
      if (bus.pageIsZero(p)) continue;
      ram8.fill(0, p * PAGE, p * PAGE + PAGE);
    } else {
      if (bus.mayBeNonZero(p) && ramPageEquals(ram8, p, page)) continue;
      ram8.set(page, p * PAGE);
    }
    bus.noteDmaWrite(bus.ramBase + p * PAGE, PAGE);
  }
}

export class RamPages {
  /** Pages as of the last capture or restore. */
  private latest: PageRefs;
  /** Pages written since then. */
  private readonly dirty: Uint8Array;

  constructor(private readonly vm: VirtMachine) {
    this.dirty = vm.bus.addDirtyListener();
    this.latest = new Array<Uint8Array>(this.dirty.length).fill(ZERO_PAGE);
  }

  /** RAM now, sharing unchanged pages with earlier captures. Returns the refs and how many pages were copied. */
  capture(): { refs: PageRefs; copied: number } {
    const vm = this.vm;
    vm.collectDirty();
    const bus = vm.bus;
    const ram8 = bus.ram8;
    const dirty = this.dirty;
    const latest = this.latest.slice();
    let copied = 0;
    for (let p = nextFlagged(dirty, 0); p >= 0; p = nextFlagged(dirty, p + 1)) {
      dirty[p] = 0;
      // The first capture flags every page: those never written are not read (pageIsZero).
      if (bus.pageIsZero(p)) {
        latest[p] = ZERO_PAGE;
        continue;
      }
      const old = latest[p];
      // A written page that holds what it held: keep sharing the old copy.
      if (old !== ZERO_PAGE && ramPageEquals(ram8, p, old)) continue;
      latest[p] = ram8.slice(p * PAGE, p * PAGE + PAGE);
      copied++;
    }
    this.latest = latest;
    return { refs: latest, copied };
  }

  /** Make RAM hold `refs`, copying only the pages that differ from what it holds now. */
  restore(refs: PageRefs): void {
    const vm = this.vm;
    vm.collectDirty();
    const { ram8 } = vm.bus;
    const dirty = this.dirty;
    for (let p = 0; p < refs.length; p++) {
      if (!dirty[p] && refs[p] === this.latest[p]) continue;
      dirty[p] = 0;
      ram8.set(refs[p], p * PAGE);
      // Written behind the hart's back: it drops what it cached of the page (translated code too).
      vm.bus.noteDmaWrite(vm.bus.ramBase + p * PAGE, PAGE);
    }
    this.latest = refs.slice();
    // The pages just flagged are what RAM already holds as `latest`: collect and drop them here.
    vm.collectDirty();
    dirty.fill(0);
  }
}

/** Bytes of page copies held by a set of captures (shared copies counted once). */
export function pagesBytes(all: Iterable<PageRefs>): number {
  const seen = new Set<Uint8Array>();
  for (const refs of all) for (const r of refs) if (r !== ZERO_PAGE) seen.add(r);
  return seen.size * PAGE;
}
