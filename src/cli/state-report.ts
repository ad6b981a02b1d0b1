/** The machine's state as a person reads it: `vmrs replay --to N` prints this. */
import type { VirtMachine } from '../machine/virt.js';
import { CSR } from '../cpu/csr-numbers.js';
import { PRIV_NAMES, REPORTED_CSRS, X_ABI_NAMES } from '../cpu/abi-names.js';
import { hex64 } from '../replay/hex.js';
import { listInstructions } from '../cpu/disassemble.js';
import { MachineGuestView } from '../plugin/guest-view.js';

const PRIV = PRIV_NAMES;

/** The instruction at pc, read without side effects through the MMU: disassembly and bytes. */
export function nextInstruction(vm: VirtMachine): string {
  const view = new MachineGuestView(vm);
  const [i] = listInstructions((a, n) => view.read(a, n), view.pc, 1);
  return i ? `${i.asm}  (${i.hex})` : '(pc is not mapped to RAM)';
}

export function describeMachineState(vm: VirtMachine): string {
  const c = vm.cpu;
  const lines: string[] = [];
  lines.push(
    `icount ${c.icount}  pc ${hex64(c.pcLo, c.pcHi)}  privilege ${PRIV[c.priv]}  guest time ${(vm.now() / 1e7).toFixed(7)} s${c.wfi ? '  (waiting in WFI)' : ''}`,
  );
  lines.push(`    next ${nextInstruction(vm)}`);
  for (let i = 0; i < 32; i += 4) {
    const row: string[] = [];
    for (let j = i; j < i + 4; j++)
      row.push(
        `${`x${j}/${X_ABI_NAMES[j]}`.padStart(8)} ${hex64(c.regs[j << 1], c.regs[(j << 1) | 1])}`,
      );
    lines.push(row.join('  '));
  }
  const csrs = REPORTED_CSRS.map((n) => {
    const v = c.readCsr(CSR[n]);
    return `${n.padStart(8)} ${v ? hex64(v.lo, v.hi) : '-'}`;
  });
  for (let i = 0; i < csrs.length; i += 4) lines.push(csrs.slice(i, i + 4).join('  '));
  return lines.join('\n') + '\n';
}
