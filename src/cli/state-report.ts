/** The machine's state as a person reads it: `vmrs replay --to N` prints this. */
import type { VirtMachine } from '../machine/virt.js';
import { CSR } from '../cpu/csr-numbers.js';

const ABI = [
  'zero',
  'ra',
  'sp',
  'gp',
  'tp',
  't0',
  't1',
  't2',
  's0',
  's1',
  'a0',
  'a1',
  'a2',
  'a3',
  'a4',
  'a5',
  'a6',
  'a7',
  's2',
  's3',
  's4',
  's5',
  's6',
  's7',
  's8',
  's9',
  's10',
  's11',
  't3',
  't4',
  't5',
  't6',
];
const PRIV = ['U', 'S', '?', 'M'];
const REPORTED_CSRS = [
  'mstatus',
  'mepc',
  'mcause',
  'mtval',
  'sstatus',
  'sepc',
  'scause',
  'stval',
  'satp',
  'mip',
  'mie',
] as const;

export const hex64 = (lo: number, hi: number): string =>
  '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');

export function describeMachineState(vm: VirtMachine): string {
  const c = vm.cpu;
  const lines: string[] = [];
  lines.push(
    `icount ${c.icount}  pc ${hex64(c.pcLo, c.pcHi)}  privilege ${PRIV[c.priv]}  guest time ${(vm.now() / 1e7).toFixed(7)} s${c.wfi ? '  (waiting in WFI)' : ''}`,
  );
  for (let i = 0; i < 32; i += 4) {
    const row: string[] = [];
    for (let j = i; j < i + 4; j++)
      row.push(`${`x${j}/${ABI[j]}`.padStart(8)} ${hex64(c.xl[j], c.xh[j])}`);
    lines.push(row.join('  '));
  }
  const csrs = REPORTED_CSRS.map((n) => {
    const v = c.readCsr(CSR[n]);
    return `${n.padStart(8)} ${v ? hex64(v.lo, v.hi) : '-'}`;
  });
  for (let i = 0; i < csrs.length; i += 4) lines.push(csrs.slice(i, i + 4).join('  '));
  return lines.join('\n') + '\n';
}
