/**
 * The boot loader: puts firmware, kernel, initrd and device tree in RAM the
 * way QEMU's virt machine does (hw/riscv/boot.c), and builds the reset
 * vector that enters the firmware with a0 = hartid, a1 = DTB and
 * a2 = fw_dynamic_info.
 */
import type { Bus } from './bus.js';
import type { LoadedSpan } from './loaded-pages.js';
import { BootRom } from '../devices/boot-rom.js';
import { isElf, parseElf, type ElfImage } from './elf.js';
import { kernelKind, parseLinuxImageHeader } from './kernel-image.js';
import { buildVirtDtb } from './virt-dtb.js';
import { TIMEBASE_HZ } from './clock.js';

export const ISA_STRING = 'rv64imafdc_zicsr_zifencei_sstc';
const MiB = 1024 * 1024;
const FW_DYNAMIC_MAGIC = 0x4942534f;

export interface BootOptions {
  bios: Uint8Array | 'none';
  biosName: string;
  kernel?: Uint8Array;
  kernelName?: string;
  initrd?: Uint8Array;
  initrdName?: string;
  append: string;
  harts: number;
  virtioSlots?: number[];
  mmuType?: string;
}

export interface BootInfo {
  bootRom: { device: BootRom; size: number };
  resetPc: number;
  dtbAddr: number;
  dtb: Uint8Array;
  kernelStart?: number;
  kernelEnd?: number;
  initrdStart?: number;
  initrdEnd?: number;
  tohost?: number;
  fromhost?: number;
  /** Every image's bytes as put in RAM, in order (loaded-pages.ts). */
  loaded: LoadedSpan[];
}

interface Placed {
  name: string;
  start: number;
  end: number;
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;
const alignDown = (x: number, a: number) => Math.floor(x / a) * a;
const mib = (n: number) => `${Math.ceil(n / MiB)} MiB`;

/**
 * Put an ELF's segments in RAM, each at `where(segment)` (by default its
 * physical address), bss zeroed; returns the RAM range it took.
 */
function loadElf(
  bus: Bus,
  elf: ElfImage,
  name: string,
  placed: Placed[],
  loaded: LoadedSpan[],
  where: (seg: ElfImage['segments'][number]) => number = (seg) => seg.paddr,
): { start: number; end: number } {
  let start = Infinity,
    end = 0;
  const loads = elf.segments
    .filter((seg) => seg.memsz > 0)
    .map((seg) => ({ seg, pa: where(seg) }))
    .sort((a, b) => a.pa - b.pa);
  for (const [i, { seg, pa }] of loads.entries()) {
    if (!bus.isRam(pa, seg.memsz))
      throw new Error(
        `${name}: segment at 0x${pa.toString(16)} (${seg.memsz} bytes) is outside RAM ` +
          `(0x${bus.ramBase.toString(16)}..0x${(bus.ramBase + bus.ramSize).toString(16)}); ` +
          `more memory (-m) may help`,
      );
    // Segments may not overlap: then loading writes each byte of RAM at most once.
    const prev = loads[i - 1];
    if (prev && prev.pa + prev.seg.memsz > pa)
      throw new Error(
        `${name}: segments at 0x${prev.pa.toString(16)} and 0x${pa.toString(16)} overlap`,
      );
    load(bus, loaded, pa, seg.data);
    bus.ram8.fill(0, pa - bus.ramBase + seg.data.length, pa - bus.ramBase + seg.memsz);
    start = Math.min(start, pa);
    end = Math.max(end, pa + seg.memsz);
  }
  if (start === Infinity) throw new Error(`${name}: ELF has no loadable segments`);
  claim(placed, name, start, end);
  return { start, end };
}

/**
 * A kernel linked for the top of the address space whose load (physical)
 * addresses are not RAM: a Linux vmlinux (riscv's has p_paddr 0 and
 * p_vaddr 0xffffffff80000000). QEMU refuses these; we load them as the
 * kernel's Image, which is the same bytes laid out by virtual offset.
 */
function isHigherHalfKernel(elf: ElfImage, bus: Bus): boolean {
  const segs = elf.segments.filter((s) => s.memsz > 0);
  return (
    segs.length > 0 &&
    segs.some((s) => !bus.isRam(s.paddr, s.memsz)) &&
    segs.every((s) => s.vaddr >= 2 ** 63) &&
    elf.entry >= 2 ** 63
  );
}

function claim(placed: Placed[], name: string, start: number, end: number): void {
  for (const p of placed) {
    if (start < p.end && p.start < end)
      throw new Error(
        `${name} (0x${start.toString(16)}..0x${end.toString(16)}) overlaps ${p.name} ` +
          `(0x${p.start.toString(16)}..0x${p.end.toString(16)})`,
      );
  }
  placed.push({ name, start, end });
}

/** Put an image's bytes in RAM at `paddr`, and say so in `loaded`. */
function load(bus: Bus, loaded: LoadedSpan[], paddr: number, bytes: Uint8Array): void {
  bus.writeBytes(paddr, bytes);
  loaded.push({ off: paddr - bus.ramBase, bytes });
}

export function setupBoot(bus: Bus, opts: BootOptions): BootInfo {
  const ramEnd = bus.ramBase + bus.ramSize;
  const placed: Placed[] = [];
  const loaded: LoadedSpan[] = [];
  let tohost: number | undefined;
  let fromhost: number | undefined;
  const noteHtif = (elf: ElfImage) => {
    if (tohost === undefined && elf.symbols.has('tohost')) {
      tohost = elf.symbols.get('tohost');
      fromhost = elf.symbols.get('fromhost');
    }
  };

  // Firmware at the start of RAM.
  let firmwareEntry = bus.ramBase;
  let firmwareEnd = bus.ramBase;
  if (opts.bios !== 'none') {
    if (isElf(opts.bios)) {
      const elf = parseElf(opts.bios, opts.biosName);
      const r = loadElf(bus, elf, `firmware ${opts.biosName}`, placed, loaded);
      firmwareEntry = elf.entry;
      firmwareEnd = r.end;
      noteHtif(elf);
    } else {
      if (opts.bios.length > bus.ramSize)
        throw new Error(`${mib(bus.ramSize)} of RAM is too small for firmware ${opts.biosName}`);
      load(bus, loaded, bus.ramBase, opts.bios);
      firmwareEnd = bus.ramBase + opts.bios.length;
      claim(placed, `firmware ${opts.biosName}`, bus.ramBase, firmwareEnd);
    }
  }

  // Kernel: an Image at the first 2 MiB boundary after the firmware (4 MiB
  // alignment is what QEMU uses for RV32; RV64 uses 2 MiB).
  let kernelStart: number | undefined;
  let kernelEnd: number | undefined;
  let kernelEntry: number | undefined;
  if (opts.kernel) {
    const name = opts.kernelName ?? 'kernel';
    const kind = kernelKind(opts.kernel, name);
    const imageAt =
      opts.bios === 'none' ? bus.ramBase : alignUp(Math.max(firmwareEnd, bus.ramBase + 1), 2 * MiB);
    const elf = kind === 'elf' ? parseElf(opts.kernel, name) : undefined;
    if (elf && isHigherHalfKernel(elf, bus)) {
      // A Linux vmlinux: laid out by virtual offset where its Image would go, as its Image
      // holds it. Page-aligned offsets near 2^64 are exact in a double (its step there is 2 KiB).
      const base = Math.min(...elf.segments.filter((s) => s.memsz > 0).map((s) => s.vaddr));
      const r = loadElf(
        bus,
        elf,
        `kernel ${name}`,
        placed,
        loaded,
        (s) => imageAt + (s.vaddr - base),
      );
      kernelStart = r.start;
      kernelEnd = r.end;
      kernelEntry = imageAt + (elf.entry - base);
      if (kernelEntry < kernelStart || kernelEntry >= kernelEnd)
        throw new Error(`kernel ${name}: entry point outside its segments`);
    } else if (elf) {
      const r = loadElf(bus, elf, `kernel ${name}`, placed, loaded);
      kernelStart = r.start;
      kernelEnd = r.end;
      kernelEntry = elf.entry;
      noteHtif(elf);
    } else {
      const hdr = parseLinuxImageHeader(opts.kernel)!;
      kernelStart = imageAt;
      const size = Math.max(hdr.imageSize, opts.kernel.length);
      kernelEnd = kernelStart + size;
      if (kernelEnd > ramEnd)
        throw new Error(
          `${mib(bus.ramSize)} of RAM is too small for kernel ${name} (needs at least ${mib(kernelEnd - bus.ramBase)})`,
        );
      load(bus, loaded, kernelStart, opts.kernel);
      claim(placed, `kernel ${name}`, kernelStart, kernelEnd);
      kernelEntry = kernelStart;
    }
  } else if (opts.bios === 'none') {
    throw new Error('--bios none needs a --kernel to run');
  }

  // initrd: halfway into small RAMs, at 128 MiB past the kernel otherwise (QEMU's rule).
  let initrdStart: number | undefined;
  let initrdEnd: number | undefined;
  if (opts.initrd) {
    const base = kernelStart ?? bus.ramBase;
    initrdStart = alignDown(base + Math.min(bus.ramSize / 2, 128 * MiB), 4096);
    if (kernelEnd !== undefined && initrdStart < kernelEnd) initrdStart = alignUp(kernelEnd, 4096);
    initrdEnd = initrdStart + opts.initrd.length;
    if (initrdEnd > ramEnd - 2 * MiB)
      throw new Error(
        `${mib(bus.ramSize)} of RAM is too small for kernel+initrd+DTB ` +
          `(needs at least ${mib(initrdEnd + 2 * MiB - bus.ramBase)})`,
      );
    load(bus, loaded, initrdStart, opts.initrd);
    claim(placed, `initrd ${opts.initrdName ?? ''}`.trim(), initrdStart, initrdEnd);
  }

  // Device tree: top of RAM (below 3 GiB), aligned down to 2 MiB.
  const dtb = buildVirtDtb({
    ramBase: bus.ramBase,
    ramSize: bus.ramSize,
    harts: opts.harts,
    isa: ISA_STRING,
    mmuType: opts.mmuType ?? 'riscv,sv39',
    bootargs: opts.append,
    initrd: initrdStart !== undefined ? { start: initrdStart, end: initrdEnd! } : undefined,
    virtioSlots: opts.virtioSlots ?? [],
    timebase: TIMEBASE_HZ,
  });
  const dtbAddr = alignDown(Math.min(ramEnd, 0xc0000000) - dtb.length, 2 * MiB);
  if (dtbAddr < bus.ramBase)
    throw new Error(`${mib(bus.ramSize)} of RAM is too small for the device tree`);
  claim(placed, 'device tree', dtbAddr, dtbAddr + dtb.length);
  load(bus, loaded, dtbAddr, dtb);

  // Reset vector (QEMU's reset_vec for RV64) and fw_dynamic_info.
  const start = opts.bios === 'none' ? kernelEntry! : firmwareEntry;
  const rom = new Uint8Array(0x1000);
  const dv = new DataView(rom.buffer);
  const code = [0x00000297, 0x02828613, 0xf1402573, 0x0202b583, 0x0182b283, 0x00028067];
  code.forEach((w, i) => dv.setUint32(i * 4, w, true));
  const u64 = (o: number, v: number) => {
    dv.setUint32(o, v >>> 0, true);
    dv.setUint32(o + 4, Math.floor(v / 4294967296), true);
  };
  u64(24, start);
  u64(32, dtbAddr);
  u64(40, FW_DYNAMIC_MAGIC);
  u64(48, 2); // version
  u64(56, kernelEntry ?? 0); // next_addr
  u64(64, 1); // next_mode: S
  u64(72, 0); // options
  u64(80, 0); // boot_hart
  const device = new BootRom(rom);
  return {
    bootRom: { device, size: device.size },
    resetPc: 0x1000,
    dtbAddr,
    dtb,
    kernelStart,
    kernelEnd,
    initrdStart,
    initrdEnd,
    tohost,
    fromhost,
    loaded,
  };
}
