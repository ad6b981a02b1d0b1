/** The device tree of the virt board, as QEMU's `virt` machine describes the same devices. */
import { buildDtb, node, type FdtNode } from './fdt.js';

export interface VirtDtbConfig {
  ramBase: number;
  ramSize: number;
  harts: number;
  isa: string;
  mmuType: string;
  bootargs: string;
  initrd?: { start: number; end: number };
  /** virtio-mmio slots in use (0..7). */
  virtioSlots: number[];
  timebase: number;
}

const hex = (n: number) => n.toString(16);

export function buildVirtDtb(cfg: VirtDtbConfig): Uint8Array {
  let phandle = 1;
  const cpuIntcPhandles: number[] = [];
  const cpus: FdtNode[] = [];
  for (let h = 0; h < cfg.harts; h++) {
    const ph = phandle++;
    cpuIntcPhandles.push(ph);
    cpus.push(
      node(
        `cpu@${h}`,
        [
          ['phandle', [phandle++]],
          ['device_type', 'cpu'],
          ['reg', [h]],
          ['status', 'okay'],
          ['compatible', 'riscv'],
          ['riscv,isa', cfg.isa],
          ['mmu-type', cfg.mmuType],
        ],
        [
          node('interrupt-controller', [
            ['#address-cells', [0]],
            ['#interrupt-cells', [1]],
            ['interrupt-controller', null],
            ['compatible', 'riscv,cpu-intc'],
            ['phandle', [ph]],
          ]),
        ],
      ),
    );
  }
  const plicPhandle = phandle++;
  const testPhandle = phandle++;
  const clintExt: number[] = [];
  const plicExt: number[] = [];
  for (const ph of cpuIntcPhandles) {
    clintExt.push(ph, 3, ph, 7);
    plicExt.push(ph, 11, ph, 9);
  }
  const soc: FdtNode[] = [];
  soc.push(
    node('test@100000', [
      ['phandle', [testPhandle]],
      ['reg', [0, 0x100000, 0, 0x1000]],
      ['compatible', ['sifive,test1', 'sifive,test0', 'syscon']],
    ]),
  );
  soc.push(
    node('rtc@101000', [
      ['interrupts', [11]],
      ['interrupt-parent', [plicPhandle]],
      ['reg', [0, 0x101000, 0, 0x1000]],
      ['compatible', 'google,goldfish-rtc'],
    ]),
  );
  soc.push(
    node('serial@10000000', [
      ['interrupts', [10]],
      ['interrupt-parent', [plicPhandle]],
      ['clock-frequency', [0x384000]],
      ['reg', [0, 0x10000000, 0, 0x100]],
      ['compatible', 'ns16550a'],
    ]),
  );
  for (const slot of cfg.virtioSlots) {
    const base = 0x10001000 + 0x1000 * slot;
    soc.push(
      node(`virtio_mmio@${hex(base)}`, [
        ['interrupts', [1 + slot]],
        ['interrupt-parent', [plicPhandle]],
        ['reg', [0, base, 0, 0x1000]],
        ['compatible', 'virtio,mmio'],
      ]),
    );
  }
  soc.push(
    node('plic@c000000', [
      ['phandle', [plicPhandle]],
      ['riscv,ndev', [0x5f]],
      ['reg', [0, 0xc000000, 0, 0x600000]],
      ['interrupts-extended', plicExt],
      ['interrupt-controller', null],
      ['compatible', ['sifive,plic-1.0.0', 'riscv,plic0']],
      ['#address-cells', [0]],
      ['#interrupt-cells', [1]],
    ]),
  );
  soc.push(
    node('clint@2000000', [
      ['interrupts-extended', clintExt],
      ['reg', [0, 0x2000000, 0, 0x10000]],
      ['compatible', ['sifive,clint0', 'riscv,clint0']],
    ]),
  );
  const chosen: [string, FdtNode['props'][number][1]][] = [
    ['bootargs', cfg.bootargs],
    ['stdout-path', '/soc/serial@10000000'],
  ];
  if (cfg.initrd) {
    chosen.push(['linux,initrd-end', { u64: [cfg.initrd.end] }]);
    chosen.push(['linux,initrd-start', { u64: [cfg.initrd.start] }]);
  }
  const root = node(
    '',
    [
      ['#address-cells', [2]],
      ['#size-cells', [2]],
      ['compatible', 'riscv-virtio'],
      ['model', 'riscv-virtio,qemu'],
    ],
    [
      node('poweroff', [
        ['value', [0x5555]],
        ['offset', [0]],
        ['regmap', [testPhandle]],
        ['compatible', 'syscon-poweroff'],
      ]),
      node('reboot', [
        ['value', [0x7777]],
        ['offset', [0]],
        ['regmap', [testPhandle]],
        ['compatible', 'syscon-reboot'],
      ]),
      node('chosen', chosen),
      node(`memory@${hex(cfg.ramBase)}`, [
        ['device_type', 'memory'],
        ['reg', { u64: [cfg.ramBase, cfg.ramSize] }],
      ]),
      node(
        'cpus',
        [
          ['#address-cells', [1]],
          ['#size-cells', [0]],
          ['timebase-frequency', [cfg.timebase]],
        ],
        [
          ...cpus,
          node(
            'cpu-map',
            [],
            [
              node(
                'cluster0',
                [],
                cpus.map((_, h) => node(`core${h}`, [['cpu', [2 + 2 * h]]])),
              ),
            ],
          ),
        ],
      ),
      node(
        'soc',
        [
          ['#address-cells', [2]],
          ['#size-cells', [2]],
          ['compatible', 'simple-bus'],
          ['ranges', null],
        ],
        soc,
      ),
    ],
  );
  return buildDtb(root);
}
