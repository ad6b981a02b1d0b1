/**
 * What a vmrs plugin sees: the events it can subscribe to and a read-only
 * view of the guest. A plugin is an ES module whose default export is a
 * function taking a `Vmrs`; it subscribes to what it needs there, and may
 * return a promise (awaited before the replay starts).
 *
 *   export default function (vmrs) {
 *     vmrs.onTrap((t) => { if (t.name === 'ecall-u') vmrs.print(`syscall ${vmrs.guest.x('a7')}`); });
 *     vmrs.onEnd(() => vmrs.print('done'));
 *   }
 *
 * Plugins observe; nothing here can change the guest (values are numbers,
 * bigints and copies), so a replay with plugins verifies its digests as
 * one without. Events come at exact instruction counts, the same on both
 * execution engines.
 */

/** A privilege level: user, supervisor, machine. */
export type Priv = 'U' | 'S' | 'M';

export interface TrapEvent {
  /** The icount of the instruction that trapped, or before which the interrupt was taken. */
  icount: number;
  cause: number;
  interrupt: boolean;
  /** The cause's name: 'ecall-u', 'load-page-fault', 'timer-s', … (priv spec table 3.6). */
  name: string;
  tval: bigint;
  /** Where it happened (the xepc written). */
  epc: bigint;
  from: Priv;
  to: Priv;
}

export interface XretEvent {
  icount: number;
  kind: 'mret' | 'sret';
  from: Priv;
  to: Priv;
  /** Where execution goes on. */
  pc: bigint;
}

export interface CsrWriteEvent {
  icount: number;
  csr: number;
  /** Its name ('satp', 'sstatus', …), or its number in hex. */
  name: string;
  /** What the CSR holds after the write. */
  value: bigint;
}

export interface InstructionEvent {
  icount: number;
  pc: bigint;
}

/**
 * A memory access by a guest load, store, AMO, LR or SC (integer or FP,
 * compressed or not), reported after the instruction retired: an access
 * that faults is not reported, nor is an SC that fails (it writes nothing).
 * An AMO is reported twice, its read and then its write.
 */
export interface MemoryEvent {
  /** The icount of the accessing instruction. */
  icount: number;
  pc: bigint;
  /** The address the instruction accessed (its first byte). */
  vaddr: bigint;
  /**
   * Where that went (the same as vaddr without paging). A misaligned access
   * across a page boundary gives its first byte's.
   */
  paddr: bigint;
  /** 1, 2, 4 or 8 bytes. */
  size: number;
  write: boolean;
  /**
   * The bytes read or written, as an unsigned little-endian number of
   * `size` bytes (before the sign extension a load may do). A load from a
   * device register into x0 leaves nothing to see: 0n.
   */
  value: bigint;
  /** The device whose registers paddr is in ('uart16550', 'virtio-mmio@0 (virtio-blk)', …); none for RAM. */
  device?: string;
  /** With `device`: the offset of paddr in the device's window (which register). */
  offset?: number;
}

/** Which accesses an onMemory subscription wants. */
export interface MemoryFilter {
  /** Accesses that overlap [from, to) are reported (bytes from..to-1). */
  from: bigint | number;
  to: bigint | number;
  /** Loads (and the read of an AMO), stores (and SCs, and the write of an AMO), or both. */
  kind: 'read' | 'write' | 'both';
  /** The range is of physical addresses (paddr), not virtual (vaddr, the default). */
  physical?: boolean;
}

/** The privilege level changed: a trap or an interrupt into a higher level, an xRET down to a lower one. */
export interface PrivilegeEvent {
  /** The icount of the trapping instruction (or before which the interrupt came), or of the xRET. */
  icount: number;
  from: Priv;
  to: Priv;
  /** Where execution goes on, at the new level. */
  pc: bigint;
}

/**
 * A basic block was entered: the first instruction the hart runs, and each
 * one after a control transfer (a jump, a taken branch, a trap, an xRET).
 */
export interface BlockEvent {
  icount: number;
  pc: bigint;
}

/** An input from outside the guest, as it enters the machine (from the recording, in a replay). */
export interface InputEvent {
  icount: number;
  kind: 'console' | 'hvc' | 'net-frame' | 'net-link' | 'idle-jump' | 'entropy' | 'disk-error';
  /** The NIC, for network events. */
  nic?: number;
  /** The bytes (a copy): typed text, an Ethernet frame, entropy. */
  data: Uint8Array;
  /** net-link: 1 up, 0 down; idle-jump: the guest time jumped to (timebase ticks). */
  value: number;
}

export interface EndEvent {
  /** Where the replay ended. */
  icount: number;
  /** 'done' (the recording's end), 'paused' (--to), 'truncated', 'diverged'. */
  state: string;
}

/** The guest as it is at the moment of an event (or at the end). */
export interface GuestView {
  readonly icount: number;
  readonly pc: bigint;
  readonly priv: Priv;
  /** An integer register by number (0-31) or ABI name ('a0', 'sp', 'x10'). */
  x(reg: number | string): bigint;
  /** A CSR by number or name; undefined if the hart has none such. */
  csr(csr: number | string): bigint | undefined;
  /** The physical address of `vaddr` as the hart would translate it now (no side effects). */
  translate(vaddr: bigint | number): bigint | undefined;
  /** Bytes at `vaddr` through the MMU; shorter than asked where the mapping ends. */
  read(vaddr: bigint | number, length: number): Uint8Array;
  /** Bytes of RAM at a physical address; shorter than asked past RAM's end. */
  readPhysical(paddr: bigint | number, length: number): Uint8Array;
  /** A NUL-terminated string at `vaddr` (Latin-1), at most `max` bytes; undefined if unmapped. */
  readCString(vaddr: bigint | number, max?: number): string | undefined;
}

export interface Vmrs {
  readonly guest: GuestView;
  /** The plugin's arguments: `--plugin FILE,ARG,ARG`. */
  readonly args: readonly string[];
  onTrap(fn: (e: TrapEvent) => void): void;
  onXret(fn: (e: XretEvent) => void): void;
  /** CSR writes by guest instructions, of the CSRs named (all when none are). */
  onCsrWrite(fn: (e: CsrWriteEvent) => void, csrs?: readonly (number | string)[]): void;
  /** Inputs from outside: typed text, network frames and link changes, idle jumps, entropy. */
  onInput(fn: (e: InputEvent) => void): void;
  /** Every instruction, before it runs (the replay then runs on the interpreter, one at a time). */
  onInstruction(fn: (e: InstructionEvent) => void): void;
  /**
   * Memory accesses by guest instructions to a range of addresses, device
   * registers included (`device` names the device); after the accessing
   * instruction retired, so `guest` shows the machine after it. As
   * onInstruction, the replay then runs on the interpreter one instruction
   * at a time.
   */
  onMemory(fn: (e: MemoryEvent) => void, filter: MemoryFilter): void;
  /** Privilege changes (from the traps and xRETs: no cost of its own). */
  onPrivilege(fn: (e: PrivilegeEvent) => void): void;
  /** Basic blocks entered, before their first instruction runs (one instruction at a time, as onInstruction). */
  onBlock(fn: (e: BlockEvent) => void): void;
  /** The replay is over (awaited before vmrs exits). */
  onEnd(fn: (e: EndEvent) => void | Promise<void>): void;
  /** A line of output (standard error, after the guest's console on standard output). */
  print(line: string): void;
}

export type PluginMain = (vmrs: Vmrs) => void | Promise<void>;
