/** CSR numbers (priv spec 1.12, chapter 2) and the mstatus/mip bit layout. */
export const CSR = {
  fflags: 0x001,
  frm: 0x002,
  fcsr: 0x003,
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
  sstatus: 0x100,
  sie: 0x104,
  stvec: 0x105,
  scounteren: 0x106,
  senvcfg: 0x10a,
  sscratch: 0x140,
  sepc: 0x141,
  scause: 0x142,
  stval: 0x143,
  sip: 0x144,
  stimecmp: 0x14d,
  satp: 0x180,
  mvendorid: 0xf11,
  marchid: 0xf12,
  mimpid: 0xf13,
  mhartid: 0xf14,
  mconfigptr: 0xf15,
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  menvcfg: 0x30a,
  mcountinhibit: 0x320,
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  pmpcfg0: 0x3a0,
  pmpaddr0: 0x3b0,
  mcycle: 0xb00,
  minstret: 0xb02,
  tselect: 0x7a0,
  tdata1: 0x7a1,
  tdata2: 0x7a2,
  tdata3: 0x7a3,
} as const;

// mstatus bits (low word; priv spec 3.1.6)
export const MSTATUS_SIE = 1 << 1;
export const MSTATUS_MIE = 1 << 3;
export const MSTATUS_SPIE = 1 << 5;
export const MSTATUS_MPIE = 1 << 7;
export const MSTATUS_SPP = 1 << 8;
export const MSTATUS_MPP_SHIFT = 11;
export const MSTATUS_MPP = 3 << 11;
export const MSTATUS_FS = 3 << 13;
export const MSTATUS_MPRV = 1 << 17;
export const MSTATUS_SUM = 1 << 18;
export const MSTATUS_MXR = 1 << 19;
export const MSTATUS_TVM = 1 << 20;
export const MSTATUS_TW = 1 << 21;
export const MSTATUS_TSR = 1 << 22;

export const MSTATUS_WRITABLE =
  MSTATUS_SIE |
  MSTATUS_MIE |
  MSTATUS_SPIE |
  MSTATUS_MPIE |
  MSTATUS_SPP |
  MSTATUS_MPP |
  MSTATUS_FS |
  MSTATUS_MPRV |
  MSTATUS_SUM |
  MSTATUS_MXR |
  MSTATUS_TVM |
  MSTATUS_TW |
  MSTATUS_TSR;
export const SSTATUS_MASK =
  MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;

// mip/mie bits the hart itself uses (priv spec 3.1.9); devices use src/devices/device.ts.
export const MIP_SSIP = 1 << 1;
export const MIP_STIP = 1 << 5;
export const MIP_SEIP = 1 << 9;
/** Supervisor interrupts: what mideleg can delegate. */
export const S_INTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
/** Every interrupt this hart implements (mie is WARL to these). */
export const ALL_INTS = 0xaaa;
/** medeleg: every exception but ecall-from-M may be delegated. */
export const MEDELEG_MASK = 0xb3ff;
/** menvcfg.STCE (Sstc enable), bit 63: bit 31 of the high word. */
export const MENVCFG_STCE_HI = 1 << 31;

// Exception causes (priv spec table 3.6)
export const EXC_INSN_MISALIGNED = 0;
export const EXC_INSN_ACCESS = 1;
export const EXC_ILLEGAL = 2;
export const EXC_BREAKPOINT = 3;
export const EXC_LOAD_MISALIGNED = 4;
export const EXC_LOAD_ACCESS = 5;
export const EXC_STORE_MISALIGNED = 6;
export const EXC_STORE_ACCESS = 7;
export const EXC_ECALL_U = 8;
export const EXC_INSN_PAGE = 12;
export const EXC_LOAD_PAGE = 13;
export const EXC_STORE_PAGE = 15;

// Interrupt numbers, highest priority first (priv spec 3.1.9)
export const IRQ_PRIORITY = [11, 3, 7, 9, 1, 5];

/** misa: MXL=2 (RV64) and I M A F D C S U. */
export const MISA_LO =
  (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
export const MISA_HI = 0x80000000 | 0;
