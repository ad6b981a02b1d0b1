/**
 * Runs the plugins of one replay: keeps their subscriptions, turns the
 * hart's hooks (cpu/hooks.ts) into the events of plugin-api.ts, and keeps a
 * failing plugin from taking the replay down with it: a plugin that throws
 * is called no more, and `failure` says which and why (the replay stops
 * there: its analysis would be incomplete).
 *
 * No Node APIs here: loading a plugin's module is the host's (cli/plugins.ts).
 */
import type { CpuHooks } from '../cpu/hooks.js';
import { CSR } from '../cpu/csr-numbers.js';
import type {
  BlockEvent,
  CsrWriteEvent,
  EndEvent,
  InputEvent,
  InstructionEvent,
  MemoryEvent,
  MemoryFilter,
  PluginMain,
  PrivilegeEvent,
  TrapEvent,
  Vmrs,
  XretEvent,
} from './plugin-api.js';
import { MachineGuestView, csrName, csrNumber, privName } from './guest-view.js';
import { StepObserver, memoryWatch, type MemoryWatch } from './step-events.js';
import type { HartAndRam } from '../gdb/debug-memory.js';
import { EventType, type RecordedEvent } from '../replay/events.js';

/** Exception and interrupt names (priv spec table 3.6). */
const EXCEPTIONS: Record<number, string> = {
  0: 'instruction-misaligned',
  1: 'instruction-access-fault',
  2: 'illegal-instruction',
  3: 'breakpoint',
  4: 'load-misaligned',
  5: 'load-access-fault',
  6: 'store-misaligned',
  7: 'store-access-fault',
  8: 'ecall-u',
  9: 'ecall-s',
  11: 'ecall-m',
  12: 'instruction-page-fault',
  13: 'load-page-fault',
  15: 'store-page-fault',
};
const INTERRUPTS: Record<number, string> = {
  1: 'software-s',
  3: 'software-m',
  5: 'timer-s',
  7: 'timer-m',
  9: 'external-s',
  11: 'external-m',
};

export function trapName(cause: number, interrupt: boolean): string {
  return (
    (interrupt ? INTERRUPTS : EXCEPTIONS)[cause] ??
    `${interrupt ? 'interrupt' : 'exception'}-${cause}`
  );
}

const INPUT_KINDS: Partial<Record<EventType, InputEvent['kind']>> = {
  [EventType.Console]: 'console',
  [EventType.Hvc]: 'hvc',
  [EventType.NetFrame]: 'net-frame',
  [EventType.NetLink]: 'net-link',
  [EventType.IdleJump]: 'idle-jump',
  [EventType.Entropy]: 'entropy',
  [EventType.DiskError]: 'disk-error',
};

/** CSRs translated blocks write themselves, without the csrWrite hook (see needsInterpreter). */
const BLOCK_WRITTEN_CSRS = [CSR.sstatus, CSR.mstatus, CSR.fflags, CSR.frm, CSR.fcsr];

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

interface Loaded {
  name: string;
  failed: boolean;
}

type Sub<E> = { p: Loaded; fn: (e: E) => void };

export class PluginHost {
  private readonly traps: Sub<TrapEvent>[] = [];
  private readonly xrets: Sub<XretEvent>[] = [];
  private readonly csrWrites: (Sub<CsrWriteEvent> & { csrs: Set<number> | undefined })[] = [];
  private readonly insns: Sub<InstructionEvent>[] = [];
  private readonly memory: MemoryWatch<Sub<MemoryEvent>>[] = [];
  private readonly privileges: Sub<PrivilegeEvent>[] = [];
  private readonly blocks: Sub<BlockEvent>[] = [];
  private readonly inputs: Sub<InputEvent>[] = [];
  private readonly ends: { p: Loaded; fn: (e: EndEvent) => void | Promise<void> }[] = [];
  private readonly guest: MachineGuestView;
  /** The first plugin failure: which plugin, and what it threw. */
  failure: string | undefined;

  constructor(
    private readonly vm: HartAndRam,
    private readonly print: (line: string) => void,
  ) {
    this.guest = new MachineGuestView(vm);
  }

  /** Set a plugin up: its main function subscribes through the Vmrs it is given. */
  async add(name: string, main: PluginMain, args: readonly string[]): Promise<void> {
    const p: Loaded = { name, failed: false };
    const vmrs: Vmrs = Object.freeze({
      guest: this.guest,
      args: Object.freeze([...args]),
      onTrap: (fn: (e: TrapEvent) => void) => void this.traps.push({ p, fn }),
      onXret: (fn: (e: XretEvent) => void) => void this.xrets.push({ p, fn }),
      onCsrWrite: (fn: (e: CsrWriteEvent) => void, csrs?: readonly (number | string)[]) =>
        void this.csrWrites.push({ p, fn, csrs: csrs && new Set(csrs.map(csrNumber)) }),
      onInstruction: (fn: (e: InstructionEvent) => void) => void this.insns.push({ p, fn }),
      onMemory: (fn: (e: MemoryEvent) => void, filter: MemoryFilter) =>
        void this.memory.push(memoryWatch({ p, fn }, filter)),
      onPrivilege: (fn: (e: PrivilegeEvent) => void) => void this.privileges.push({ p, fn }),
      onBlock: (fn: (e: BlockEvent) => void) => void this.blocks.push({ p, fn }),
      onInput: (fn: (e: InputEvent) => void) => void this.inputs.push({ p, fn }),
      onEnd: (fn: (e: EndEvent) => void | Promise<void>) => void this.ends.push({ p, fn }),
      print: (line: string) => this.print(String(line)),
    });
    try {
      await main(vmrs);
    } catch (e) {
      throw new Error(`plugin ${name} failed to start: ${(e as Error).message ?? e}`);
    }
  }

  /**
   * Whether the replay must run on the interpreter: blocks write sstatus's
   * SIE bit, fflags, frm and fcsr themselves (translate-insn.ts), so a
   * plugin watching those writes would miss them on the translator.
   */
  get needsInterpreter(): boolean {
    return this.csrWrites.some((s) => !s.csrs || BLOCK_WRITTEN_CSRS.some((c) => s.csrs!.has(c)));
  }

  /**
   * Put the hooks the subscriptions need on the hart (none at all when
   * nothing is subscribed). Privilege changes come from the trap and xRET
   * hooks; instructions, memory accesses and blocks from the instruction
   * hooks, which run the hart one instruction at a time (step-events.ts).
   */
  install(): void {
    const hooks: CpuHooks = {};
    const cpu = this.vm.cpu;
    const traps = this.traps.length !== 0;
    const xrets = this.xrets.length !== 0;
    const privileges = this.privileges.length !== 0;
    const blocks = this.blocks.length !== 0;
    const step =
      this.memory.length !== 0 || blocks
        ? new StepObserver(
            cpu,
            this.vm.bus,
            this.memory,
            blocks ? (e) => this.emit(this.blocks, e) : undefined,
            (subs, e) => this.emit(subs, e),
          )
        : undefined;
    const privilege = (from: number, to: number) =>
      this.emit(this.privileges, {
        icount: cpu.icount,
        from: privName(from),
        to: privName(to),
        pc: u64(cpu.pcLo, cpu.pcHi),
      });
    if (traps || privileges || blocks)
      hooks.trap = (cause, interrupt, tvalLo, tvalHi, epcLo, epcHi, from, to) => {
        if (traps)
          this.emit(this.traps, {
            icount: cpu.icount,
            cause,
            interrupt,
            name: trapName(cause, interrupt),
            tval: u64(tvalLo, tvalHi),
            epc: u64(epcLo, epcHi),
            from: privName(from),
            to: privName(to),
          });
        if (privileges && from !== to) privilege(from, to);
        if (step) step.blockNext = true;
      };
    if (xrets || privileges || blocks)
      hooks.xret = (machine, from, to) => {
        if (xrets)
          this.emit(this.xrets, {
            icount: cpu.icount,
            kind: machine ? 'mret' : 'sret',
            from: privName(from),
            to: privName(to),
            pc: u64(cpu.pcLo, cpu.pcHi),
          });
        if (privileges && from !== to) privilege(from, to);
        if (step) step.blockNext = true;
      };
    if (this.csrWrites.length)
      hooks.csrWrite = (num) => {
        const wanted = this.csrWrites.filter((s) => !s.csrs || s.csrs.has(num));
        if (wanted.length === 0) return;
        const v = cpu.readCsr(num);
        this.emit(wanted, {
          icount: cpu.icount,
          csr: num,
          name: csrName(num),
          value: v ? u64(v.lo, v.hi) : 0n,
        });
      };
    const insn =
      this.insns.length !== 0
        ? () => this.emit(this.insns, { icount: cpu.icount, pc: u64(cpu.pcLo, cpu.pcHi) })
        : undefined;
    if (step) {
      hooks.insn = insn
        ? () => {
            step.before();
            insn();
          }
        : () => step.before();
      hooks.after = (retired) => step.after(retired);
    } else if (insn) hooks.insn = insn;
    cpu.hooks = Object.keys(hooks).length ? hooks : undefined;
  }

  /** Whether any plugin wants inputs (the host then passes them to input()). */
  get wantsInputs(): boolean {
    return this.inputs.length !== 0;
  }

  /** An input entering the machine (the gate's or the replayer's event). */
  input(ev: RecordedEvent): void {
    const kind = INPUT_KINDS[ev.type];
    if (kind === undefined || this.inputs.length === 0) return;
    this.emit(this.inputs, {
      icount: ev.icount,
      kind,
      nic: kind === 'net-frame' || kind === 'net-link' ? ev.arg : undefined,
      data: ev.data.slice(),
      value: ev.value,
    });
  }

  private emit<E>(subs: Sub<E>[], e: E): void {
    for (const s of subs) {
      if (s.p.failed) continue;
      try {
        s.fn(e);
      } catch (err) {
        this.fail(s.p, err);
      }
    }
  }

  private fail(p: Loaded, err: unknown): void {
    p.failed = true;
    this.failure ??= `plugin ${p.name} failed: ${(err as Error)?.stack ?? err}`;
  }

  /** The replay is over: the plugins' end handlers, in order; then no more hooks. */
  async end(e: EndEvent): Promise<void> {
    this.vm.cpu.hooks = undefined;
    for (const s of this.ends) {
      if (s.p.failed) continue;
      try {
        await s.fn(e);
      } catch (err) {
        this.fail(s.p, err);
      }
    }
  }
}
