/** Constants shared by the modules of the hart (src/cpu). */

/** Privilege levels (priv spec 1.2). */
export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

/** Access types; each has its own TLB, indexed by this number. */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_FETCH = 2;

export const TWO32 = 4294967296;

/** Not a RISC-V cause: a watchpoint stopped the hart before an access (see Cpu.watchStopsBefore). */
export const EXC_WATCH_STOP = 0x40;
