/**
 * The riscv64 target description GDB reads with qXfer:features:read
 * (GDB manual, "Target Descriptions" and the RISC-V features). GDB numbers
 * registers x0..x31 = 0..31, pc = 32, f0..f31 = 33..64, and CSR n = 65 + n.
 */
import { CSR } from '../cpu/csr-numbers.js';
import { X_ABI_NAMES } from '../cpu/abi-names.js';

export const REG_PC = 32;
export const REG_F0 = 33;
export const REG_CSR0 = 65;
/** A virtual register with the privilege level, after the CSRs (as QEMU offers). */
export const REG_PRIV = REG_CSR0 + 4096;

/** GDB's riscv.cpu feature calls x8 `fp`. */
const X_NAMES = X_ABI_NAMES.map((n, i) => (i === 8 ? 'fp' : n));
const F_NAMES = [
  'ft0',
  'ft1',
  'ft2',
  'ft3',
  'ft4',
  'ft5',
  'ft6',
  'ft7',
  'fs0',
  'fs1',
  'fa0',
  'fa1',
  'fa2',
  'fa3',
  'fa4',
  'fa5',
  'fa6',
  'fa7',
  'fs2',
  'fs3',
  'fs4',
  'fs5',
  'fs6',
  'fs7',
  'fs8',
  'fs9',
  'fs10',
  'fs11',
  'ft8',
  'ft9',
  'ft10',
  'ft11',
];

/** CSRs offered to GDB (beyond fflags/frm/fcsr, which live in the FPU feature). */
export const GDB_CSRS: readonly (keyof typeof CSR)[] = [
  'sstatus',
  'sie',
  'stvec',
  'scounteren',
  'sscratch',
  'sepc',
  'scause',
  'stval',
  'sip',
  'satp',
  'stimecmp',
  'mstatus',
  'misa',
  'medeleg',
  'mideleg',
  'mie',
  'mtvec',
  'mcounteren',
  'mscratch',
  'mepc',
  'mcause',
  'mtval',
  'mip',
  'menvcfg',
  'mhartid',
  'cycle',
  'time',
  'instret',
];

export function targetXml(): string {
  const x = X_NAMES.map(
    (n, i) =>
      `<reg name="${n}" bitsize="64" type="${i === 2 ? 'data_ptr' : i === 1 ? 'code_ptr' : 'int'}" regnum="${i}"/>`,
  ).join('');
  const f = F_NAMES.map(
    (n, i) => `<reg name="${n}" bitsize="64" type="riscv_double" regnum="${REG_F0 + i}"/>`,
  ).join('');
  const csrs = GDB_CSRS.map(
    (n) =>
      `<reg name="${n}" bitsize="64" type="int" regnum="${REG_CSR0 + CSR[n]}" group="system"/>`,
  ).join('');
  return (
    '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">' +
    '<target version="1.0"><architecture>riscv:rv64</architecture>' +
    `<feature name="org.gnu.gdb.riscv.cpu">${x}<reg name="pc" bitsize="64" type="code_ptr" regnum="${REG_PC}"/></feature>` +
    '<feature name="org.gnu.gdb.riscv.fpu">' +
    '<union id="riscv_double"><field name="float" type="ieee_single"/><field name="double" type="ieee_double"/></union>' +
    f +
    `<reg name="fflags" bitsize="32" type="int" regnum="${REG_CSR0 + CSR.fflags}"/>` +
    `<reg name="frm" bitsize="32" type="int" regnum="${REG_CSR0 + CSR.frm}"/>` +
    `<reg name="fcsr" bitsize="32" type="int" regnum="${REG_CSR0 + CSR.fcsr}"/>` +
    '</feature>' +
    `<feature name="org.gnu.gdb.riscv.csr">${csrs}</feature>` +
    `<feature name="org.gnu.gdb.riscv.virtual"><reg name="priv" bitsize="64" type="int" regnum="${REG_PRIV}"/></feature>` +
    '</target>'
  );
}
