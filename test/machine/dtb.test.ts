/**
 * The device tree vmrs gives its guest, against QEMU's: `qemu-system-riscv64
 * -M virt,dumpdtb=F` with the same memory, firmware, kernel, initrd and
 * command line, both read with a reader written from the DTB specification
 * (test/helpers/fdt-reader.ts) and compared node by node, property by
 * property, phandles resolved to the nodes they name. The differences vmrs
 * means to have are listed below with their reasons; any other is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine } from '../../src/machine/virt.js';
import { QEMU_BINARY } from '../../src/host/qemu.js';
import { cells, readDtb, strings, type DtNode } from '../helpers/fdt-reader.js';
import { needTools } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vmrs-dtb-'));

/** QEMU's nodes for devices vmrs does not have. */
const QEMU_ONLY_NODES = new Set([
  '/pmu', // performance-monitor event map: vmrs has no hpm counters
  '/fw-cfg@10100000', // QEMU's firmware configuration interface
  '/flash@20000000', // pflash
  '/platform-bus@4000000', // dynamic sysbus devices
  '/soc/pci@30000000', // PCIe host: vmrs's devices are all virtio-mmio
]);

/** A one- or two-cell number property. */
const asNumber = (v: Uint8Array | undefined) =>
  v === undefined ? undefined : cells(v).reduce((a, c) => a * 2 ** 32 + c, 0);

/** Properties that differ on purpose, checked here by their own rule instead of equality. */
const OWN_RULES: Record<
  string,
  (ours: Uint8Array | undefined, qemu: Uint8Array | undefined) => void
> = {
  // QEMU fills it with host entropy; vmrs gives the guest entropy only through the gate.
  '/chosen:rng-seed': (ours) => assert.equal(ours, undefined),
  // QEMU's CPU also has H, Zihintpause and bitmanip; vmrs lists only what it implements,
  // and all of that must be in QEMU's list.
  '/cpus/cpu@0:riscv,isa': (ours, qemu) => {
    const parse = (v: Uint8Array) => {
      const [base, ...ext] = strings(v)[0].split('_');
      return { base, ext };
    };
    const o = parse(ours!);
    const q = parse(qemu!);
    assert.equal(o.base, 'rv64imafdc');
    assert.ok(q.base.startsWith('rv64imafdc'), q.base);
    for (const e of o.ext) assert.ok(q.ext.includes(e), `${e} is not in QEMU's ${strings(qemu!)}`);
  },
  // Both are right for the hart: vmrs implements Sv39 and Sv48 and offers Sv39 (QEMU 7.2 says Sv48).
  '/cpus/cpu@0:mmu-type': (ours, qemu) => {
    assert.deepEqual(strings(ours!), ['riscv,sv39']);
    assert.ok(['riscv,sv39', 'riscv,sv48', 'riscv,sv57'].includes(strings(qemu!)[0]));
  },
  // dtc warns "Missing #address-cells in interrupt provider" on QEMU 7.2's blob; vmrs adds it.
  '/cpus/cpu@0/interrupt-controller:#address-cells': (ours, qemu) => {
    assert.deepEqual(cells(ours!), [0]);
    if (qemu) assert.deepEqual(cells(qemu), [0]);
  },
  // One cell (QEMU 7.2) or two (vmrs, as Linux's own bootloaders write them): the same address.
  '/chosen:linux,initrd-start': (ours, qemu) => assert.equal(asNumber(ours), asNumber(qemu)),
  '/chosen:linux,initrd-end': (ours, qemu) => assert.equal(asNumber(ours), asNumber(qemu)),
  // QEMU 7.2 says 96 for a PLIC whose sources are 1..95; QEMU fixed it to 95 in 8.0
  // (commit 59f74489, "hw/riscv: virt: Fix the value of riscv,ndev in the dtb"). vmrs says 95.
  '/soc/plic@c000000:riscv,ndev': (ours, qemu) => {
    assert.deepEqual(cells(ours!), [95]);
    assert.ok([95, 96].includes(cells(qemu!)[0]), `QEMU says ${cells(qemu!)}`);
  },
};

/** A property's value in a form that compares across trees: phandles become node paths. */
function normalize(tree: Map<string, DtNode>, name: string, v: Uint8Array): string {
  const byPhandle = (ph: number) => {
    for (const n of tree.values()) {
      const p = n.props.get('phandle');
      if (p && cells(p)[0] === ph) return n;
    }
    throw new Error(`no node has phandle ${ph}`);
  };
  switch (name) {
    case 'phandle':
      return '(a phandle)'; // numbering is free; what refers to it is compared below
    case 'interrupt-parent':
    case 'regmap':
    case 'cpu':
      return cells(v)
        .map((ph) => byPhandle(ph).path)
        .join(' ');
    case 'interrupts-extended': {
      const c = cells(v);
      const out: string[] = [];
      for (let i = 0; i < c.length;) {
        const target = byPhandle(c[i++]);
        const n = cells(target.props.get('#interrupt-cells')!)[0];
        out.push(`${target.path}:${c.slice(i, i + n).join(',')}`);
        i += n;
      }
      return out.join(' ');
    }
    case 'compatible':
    case 'model':
    case 'device_type':
    case 'status':
    case 'stdout-path':
    case 'bootargs':
    case 'riscv,isa':
    case 'mmu-type':
      return JSON.stringify(strings(v));
    default:
      return v.length % 4 === 0
        ? cells(v)
            .map((x) => `0x${x.toString(16)}`)
            .join(' ')
        : Buffer.from(v).toString('hex');
  }
}

/** A raw image that both loaders take: a Linux Image header (vmrs) is plain data to QEMU. */
function fakeKernel(): string {
  const img = new Uint8Array(64 << 10);
  const dv = new DataView(img.buffer);
  dv.setUint32(0, 0x0000006f, true); // j . (code0)
  dv.setBigUint64(8, 0x200000n, true); // text_offset
  dv.setBigUint64(16, BigInt(img.length), true); // image_size
  img.set(new TextEncoder().encode('RISCV\0\0\0'), 0x30);
  img.set(new TextEncoder().encode('RSC\x05'), 0x38);
  const p = join(dir, 'Image');
  writeFileSync(p, img);
  return p;
}

interface BoardCase {
  memory: string;
  bytes: number;
  initrd: boolean;
  append: string;
}

function compareWithQemu(c: BoardCase): void {
  const fw = join(dir, 'fw.bin');
  writeFileSync(fw, new Uint8Array(4096).fill(0x6f, 0, 1)); // j . at 0x80000000
  const kernel = fakeKernel();
  const initrd = join(dir, 'initrd.bin');
  writeFileSync(initrd, new Uint8Array(300_001).fill(0xa5));
  const qemuDtb = join(dir, `qemu-${c.memory}.dtb`);
  const r = spawnSync(
    QEMU_BINARY,
    [
      '-M',
      `virt,dumpdtb=${qemuDtb}`,
      '-m',
      c.memory,
      '-smp',
      '1',
      '-nographic',
      '-bios',
      fw,
      '-kernel',
      kernel,
      ...(c.initrd ? ['-initrd', initrd] : []),
      '-append',
      c.append,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const vm = new VirtMachine(
    {
      memoryBytes: c.bytes,
      bios: new Uint8Array(readFileSync(fw)),
      biosName: fw,
      kernel: new Uint8Array(readFileSync(kernel)),
      kernelName: kernel,
      initrd: c.initrd ? new Uint8Array(readFileSync(initrd)) : undefined,
      initrdName: c.initrd ? initrd : undefined,
      append: c.append,
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
    },
    () => {},
  );
  // The blob the guest finds in RAM at a1, not only the one the builder returned.
  const at = vm.boot.dtbAddr - vm.bus.ramBase;
  const inRam = vm.bus.ram8.slice(at, at + vm.boot.dtb.length);
  assert.deepEqual(inRam, vm.boot.dtb);
  const ours = readDtb(inRam);
  const qemu = readDtb(new Uint8Array(readFileSync(qemuDtb)));

  const problems: string[] = [];
  for (const path of qemu.keys())
    if (!QEMU_ONLY_NODES.has(path) && ![...QEMU_ONLY_NODES].some((q) => path.startsWith(`${q}/`)))
      if (!ours.has(path)) problems.push(`${path}: QEMU has it, vmrs does not`);
  for (const [path, o] of ours) {
    const q = qemu.get(path);
    if (!q) {
      problems.push(`${path}: vmrs has it, QEMU does not`);
      continue;
    }
    for (const name of new Set([...o.props.keys(), ...q.props.keys()])) {
      const rule = OWN_RULES[`${path}:${name}`];
      const ov = o.props.get(name);
      const qv = q.props.get(name);
      if (rule) {
        try {
          rule(ov, qv);
        } catch (e) {
          problems.push(`${path} ${name}: ${(e as Error).message}`);
        }
        continue;
      }
      const on = ov && normalize(ours, name, ov);
      const qn = qv && normalize(qemu, name, qv);
      if (on !== qn)
        problems.push(`${path} ${name}: vmrs ${on ?? '(none)'}, QEMU ${qn ?? '(none)'}`);
    }
  }
  for (const name of Object.keys(OWN_RULES)) {
    const [path] = name.split(':');
    assert.ok(qemu.has(path), `the rule for ${name} names a node QEMU does not have`);
  }
  assert.deepEqual(
    problems,
    [],
    `vmrs's device tree differs from QEMU's (-m ${c.memory}):\n${problems.join('\n')}`,
  );
  // What the comparison covered, so that an empty tree cannot pass.
  assert.ok(ours.size >= 20, `only ${ours.size} nodes`);
  for (const dev of [
    '/soc/serial@10000000',
    '/soc/plic@c000000',
    '/soc/clint@2000000',
    '/soc/virtio_mmio@10008000',
  ])
    assert.ok(ours.has(dev), dev);
  if (c.initrd) assert.ok(ours.get('/chosen')!.props.has('linux,initrd-start'));
}

test('the device tree matches QEMU virt: 256 MiB with an initrd', (t) => {
  if (!needTools(t, 'qemu-system-riscv64')) return;
  compareWithQemu({
    memory: '256M',
    bytes: 256 << 20,
    initrd: true,
    append: 'console=ttyS0 quiet',
  });
});

test('the device tree matches QEMU virt: 1 GiB without an initrd', (t) => {
  if (!needTools(t, 'qemu-system-riscv64')) return;
  compareWithQemu({
    memory: '1G',
    bytes: 1 << 30,
    initrd: false,
    append: 'console=ttyS0 loglevel=8',
  });
});

test('dtc reads the device tree without a warning', (t) => {
  if (!needTools(t, 'dtc')) return;
  const fw = new Uint8Array(4096);
  const vm = new VirtMachine(
    {
      memoryBytes: 64 << 20,
      bios: fw,
      biosName: 'fw',
      kernel: new Uint8Array(readFileSync(fakeKernel())),
      append: 'console=ttyS0',
      insnsPerTick: 10,
      rtcStartUnixNs: 0,
    },
    () => {},
  );
  const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', '-'], {
    input: vm.boot.dtb,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'no warnings');
  assert.match(r.stdout, /serial@10000000 \{/);
});
