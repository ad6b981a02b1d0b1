/** The generated device tree: valid DTB that dtc decompiles, with QEMU virt's nodes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildVirtDtb } from '../../src/machine/virt-dtb.js';

const haveDtc = spawnSync('dtc', ['--version']).status === 0;

test(
  'virt device tree decompiles with dtc and describes the board',
  { skip: !haveDtc && 'dtc not installed' },
  () => {
    const dtb = buildVirtDtb({
      ramBase: 0x80000000,
      ramSize: 256 << 20,
      harts: 1,
      isa: 'rv64imafdc_zicsr_zifencei_sstc',
      mmuType: 'riscv,sv39',
      bootargs: 'console=ttyS0',
      initrd: { start: 0x88200000, end: 0x88300000 },
      virtioSlots: [0, 7],
      timebase: 10_000_000,
    });
    const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', '-'], { input: dtb, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const dts = r.stdout;
    for (const needle of [
      'timebase-frequency = <0x989680>',
      'riscv,isa = "rv64imafdc_zicsr_zifencei_sstc"',
      'compatible = "riscv,cpu-intc"',
      'reg = <0x00 0x80000000 0x00 0x10000000>',
      'serial@10000000',
      'compatible = "ns16550a"',
      'plic@c000000',
      'clint@2000000',
      'rtc@101000',
      'test@100000',
      'syscon-poweroff',
      'virtio_mmio@10001000',
      'virtio_mmio@10008000',
      'bootargs = "console=ttyS0"',
      'linux,initrd-start = <0x00 0x88200000>',
      'stdout-path = "/soc/serial@10000000"',
    ]) {
      assert.ok(dts.includes(needle), `missing ${needle}\n${dts}`);
    }
    assert.ok(!/Warning/.test(r.stderr), r.stderr);
  },
);
