/** The integer registers' ABI names (RISC-V psABI), x0..x31. */
export const X_ABI_NAMES: readonly string[] = [
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

/** Privilege levels by number (priv spec 1.2; 2 is reserved). */
export const PRIV_NAMES = ['U', 'S', '?', 'M'];

/** The CSRs shown with the registers where a person reads the machine's state (vmrs replay --to, the browser). */
export const REPORTED_CSRS = [
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
