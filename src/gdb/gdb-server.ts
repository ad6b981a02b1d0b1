/**
 * The GDB remote stub: one debugger connection (accepted by GdbPort, in
 * gdb-port.ts), speaking the remote serial protocol to `gdb-multiarch` over a
 * DebugTarget. Registers, memory through the MMU, breakpoints (Z0/Z1),
 * watchpoints (Z2-Z4), step and continue, reverse step and continue
 * (bs/bc), and monitor commands (`monitor icount`, `monitor seek N`).
 * A malformed packet gets an error reply; nothing a client sends can throw
 * out of here.
 */
import type { Socket } from 'node:net';
import { BadPacketError, RspCodec, fromHex, reg64Hex, toHex } from './rsp.js';
import { REG_CSR0, REG_F0, REG_PC, REG_PRIV, targetXml } from './target-xml.js';
import { debugRead, debugWrite } from './debug-memory.js';
import type { DebugTarget, StopReason } from './replay-target.js';
import { instructionCount } from '../util/instruction-count.js';

/** VMRS_GDB_TRACE=1 logs every packet to stderr. */
const TRACE = !!process.env.VMRS_GDB_TRACE;

interface Watch {
  lo: number;
  hi: number;
  len: number;
  kind: number;
  addr: bigint;
}

const hexToBig = (s: string): bigint => {
  if (!/^[0-9a-fA-F]{1,16}$/.test(s)) throw new BadPacketError(`bad address ${s}`);
  return BigInt('0x' + s);
};
const words = (v: bigint) => ({
  lo: Number(v & 0xffffffffn) | 0,
  hi: Number((v >> 32n) & 0xffffffffn) | 0,
});

/** How a connection ended: the client detached (D), asked to kill the target (k, vKill), or just went. */
export type ClientEnd = 'detach' | 'kill' | 'gone';

export class GdbStub {
  private readonly breakpoints = new Map<string, { lo: number; hi: number }>();
  private readonly watches: Watch[] = [];
  private last: StopReason = { kind: 'trap' };
  /** Most breakpoints and watchpoints a client may set (each costs the hart a check). */
  static readonly MAX_BREAKPOINTS = 1024;
  static readonly MAX_WATCHPOINTS = 64;
  private running = false;
  private codec: RspCodec | undefined;
  private socket: Socket | undefined;
  private xml = targetXml();
  private ending: ClientEnd = 'gone';

  /**
   * @param onFirstPacket called before the client's first packet (or Ctrl-C) is
   *   handled: a client that sends nothing (a port probe) must change nothing.
   */
  constructor(
    private readonly target: DebugTarget,
    private readonly log: (s: string) => void = () => {},
    private readonly onFirstPacket: () => void = () => {},
  ) {}

  /** The target is running (a continue or step not yet answered). */
  get busy(): boolean {
    return this.running;
  }

  attach(sock: Socket, done: (end: ClientEnd) => void): void {
    this.socket = sock;
    sock.setNoDelay(true);
    let first = true;
    const contact = () => {
      if (first) this.onFirstPacket();
      first = false;
    };
    this.codec = new RspCodec((s) => sock.write(s, 'latin1'), {
      packet: (p) => {
        contact();
        void this.onPacket(p);
      },
      interrupt: () => {
        contact();
        if (this.running) this.target.interrupt();
      },
      abuse: (why) => {
        this.log(`gdb: ${why}; closing the connection`);
        sock.destroy();
      },
    });
    sock.on('data', (d: Buffer) => this.codec!.feed(d.toString('latin1')));
    sock.on('close', () => {
      // A continue or step in progress stops (the target waits for the next debugger);
      // a client that never ran the target (a port probe) leaves it as it was.
      if (this.running) this.target.interrupt();
      done(this.ending);
    });
    sock.on('error', () => sock.destroy());
  }

  private send(s: string): void {
    if (TRACE) process.stderr.write(`gdb <- ${s.slice(0, 200)}\n`);
    this.codec?.send(s);
  }

  private stopReply(r: StopReason): string {
    const t = 'thread:1;';
    switch (r.kind) {
      case 'breakpoint':
        return `T05swbreak:;${t}`;
      case 'watch': {
        const w = this.watches[r.index];
        const type = !w || w.kind === 1 ? 'watch' : w.kind === 2 ? 'rwatch' : 'awatch';
        const addr = (BigInt(r.addrHi >>> 0) << 32n) | BigInt(r.addrLo >>> 0);
        return `T05${type}:${addr.toString(16)};${t}`;
      }
      case 'interrupt':
        return `T02${t}`;
      case 'history-begin':
        return `T05replaylog:begin;${t}`;
      case 'history-end':
        this.log(`gdb: ${r.why}`);
        return `T05replaylog:end;${t}`;
      default:
        return `T05${t}`;
    }
  }

  private async onPacket(p: string): Promise<void> {
    if (TRACE) process.stderr.write(`gdb -> ${p.slice(0, 200)}\n`);
    let reply: string;
    try {
      if (this.running) {
        // Only Ctrl-C (handled by the codec) means anything while the target runs.
        return;
      }
      const r = await this.handle(p);
      if (r === undefined) return;
      reply = r;
    } catch (e) {
      // A malformed packet is the client's; anything else is ours, and said.
      if (!(e instanceof BadPacketError))
        this.log(`gdb: internal error on packet '${p.slice(0, 40)}': ${(e as Error).stack ?? e}`);
      reply = 'E01';
    }
    this.send(reply);
  }

  private async run(f: () => Promise<StopReason>): Promise<string> {
    this.running = true;
    try {
      this.last = await f();
    } finally {
      this.running = false;
    }
    return this.stopReply(this.last);
  }

  private readReg(n: number): string | undefined {
    const cpu = this.target.vm.cpu;
    if (n < 32) return reg64Hex(cpu.regs[n << 1], cpu.regs[(n << 1) | 1]);
    if (n === REG_PC) return reg64Hex(cpu.pcLo, cpu.pcHi);
    if (n >= REG_F0 && n < REG_F0 + 32) {
      const f = cpu.fpu.fr;
      const i = n - REG_F0;
      return reg64Hex(f[2 * i], f[2 * i + 1]);
    }
    if (n === REG_PRIV) return reg64Hex(cpu.priv, 0);
    if (n >= REG_CSR0 && n < REG_CSR0 + 4096) {
      const v = cpu.readCsr(n - REG_CSR0);
      if (!v) return undefined;
      const csr = n - REG_CSR0;
      // fflags, frm and fcsr are 32-bit in the target description.
      return csr <= 3 ? reg64Hex(v.lo, 0).slice(0, 8) : reg64Hex(v.lo, v.hi);
    }
    return undefined;
  }

  private writeReg(n: number, hex: string): boolean {
    if (!this.target.writable) return false;
    const b = fromHex(hex);
    if (b.length !== 8) return false;
    const dv = new DataView(b.buffer);
    const lo = dv.getInt32(0, true);
    const hi = dv.getInt32(4, true);
    const cpu = this.target.vm.cpu;
    if (n > 0 && n < 32) {
      cpu.regs[n << 1] = lo;
      cpu.regs[(n << 1) | 1] = hi;
    } else if (n === REG_PC) cpu.setPc(lo, hi);
    else if (n >= REG_F0 && n < REG_F0 + 32) {
      cpu.fpu.fr[2 * (n - REG_F0)] = lo;
      cpu.fpu.fr[2 * (n - REG_F0) + 1] = hi;
    } else return n === 0;
    return true;
  }

  private updateWatches(): void {
    this.target.vm.cpu.setWatchpoints(this.watches);
  }

  private async handle(p: string): Promise<string | undefined> {
    const t = this.target;
    const cpu = t.vm.cpu;
    switch (p[0]) {
      case '?':
        return this.stopReply(this.last);
      case 'g': {
        let s = '';
        for (let i = 0; i < 32; i++) s += reg64Hex(cpu.regs[i << 1], cpu.regs[(i << 1) | 1]);
        return s + reg64Hex(cpu.pcLo, cpu.pcHi);
      }
      case 'G':
        return 'E01';
      case 'p':
        return this.readReg(parseInt(p.slice(1), 16)) ?? 'E01';
      case 'P': {
        const [n, v] = p.slice(1).split('=');
        return this.writeReg(parseInt(n, 16), v ?? '') ? 'OK' : 'E01';
      }
      case 'm': {
        const [a, l] = p.slice(1).split(',');
        const len = parseInt(l, 16);
        if (!(len >= 0 && len <= 0x10000)) return 'E01';
        const data = debugRead(t.vm, hexToBig(a), len);
        return data.length || len === 0 ? toHex(data) : 'E14';
      }
      case 'M':
      case 'X': {
        if (!t.writable) return 'E01';
        const colon = p.indexOf(':');
        const [a, l] = p.slice(1, colon).split(',');
        const len = parseInt(l, 16);
        const body = p.slice(colon + 1);
        const data =
          p[0] === 'M' ? fromHex(body) : Uint8Array.from(body, (c) => c.charCodeAt(0) & 0xff);
        if (data.length !== len) return 'E01';
        return debugWrite(t.vm, hexToBig(a), data) ? 'OK' : 'E14';
      }
      case 'Z':
      case 'z': {
        const [type, a, k] = p.slice(1).split(',');
        const addr = hexToBig(a);
        const len = parseInt(k, 16);
        const insert = p[0] === 'Z';
        if (type === '0' || type === '1') {
          const key = addr.toString(16);
          if (
            insert &&
            !this.breakpoints.has(key) &&
            this.breakpoints.size >= GdbStub.MAX_BREAKPOINTS
          )
            return 'E01';
          if (insert) this.breakpoints.set(key, words(addr));
          else this.breakpoints.delete(key);
          cpu.setBreakpoints([...this.breakpoints.values()]);
          return 'OK';
        }
        if (type === '2' || type === '3' || type === '4') {
          const kind = type === '2' ? 1 : type === '3' ? 2 : 3;
          if (!(len > 0 && len <= 4096)) return 'E01';
          const i = this.watches.findIndex(
            (w) => w.addr === addr && w.len === len && w.kind === kind,
          );
          if (insert && i < 0 && this.watches.length >= GdbStub.MAX_WATCHPOINTS) return 'E01';
          if (insert && i < 0) this.watches.push({ ...words(addr), len, kind, addr });
          if (!insert && i >= 0) this.watches.splice(i, 1);
          this.updateWatches();
          return 'OK';
        }
        return '';
      }
      case 'c':
        return this.run(() => t.resume());
      case 's':
        return this.run(() => t.step());
      case 'b':
        if (!t.reversible) return 'E01';
        if (p === 'bc') return this.run(() => t.reverseResume());
        if (p === 'bs') return this.run(() => t.reverseStep());
        return '';
      case 'H':
      case 'T':
        return 'OK';
      case 'D':
        this.ending = 'detach';
        this.send('OK');
        this.socket?.end();
        return undefined;
      case 'k':
        this.ending = 'kill';
        this.socket?.end();
        return undefined;
      case 'q':
        return this.query(p);
      case 'Q':
        if (p === 'QStartNoAckMode') {
          this.send('OK');
          this.codec!.noAck = true;
          return undefined;
        }
        return '';
      case 'v':
        if (p === 'vMustReplyEmpty' || p.startsWith('vCont')) return '';
        if (p.startsWith('vKill')) {
          this.ending = 'kill';
          this.send('OK');
          this.socket?.end();
          return undefined;
        }
        return '';
      default:
        return '';
    }
  }

  private query(p: string): string {
    if (p.startsWith('qSupported'))
      return `PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+${this.target.reversible ? ';ReverseStep+;ReverseContinue+' : ''}`;
    if (p.startsWith('qXfer:features:read:target.xml:')) {
      const [o, l] = p.slice('qXfer:features:read:target.xml:'.length).split(',');
      const off = parseInt(o, 16);
      const len = parseInt(l, 16);
      if (!(off >= 0 && len >= 0)) return 'E01';
      const part = this.xml.slice(off, off + len);
      return (off + len >= this.xml.length ? 'l' : 'm') + part;
    }
    if (p.startsWith('qXfer:')) return '';
    if (p === 'qAttached') return '1';
    if (p === 'qC') return 'QC1';
    if (p === 'qfThreadInfo') return 'm1';
    if (p === 'qsThreadInfo') return 'l';
    if (p === 'qSymbol::') return 'OK';
    if (p.startsWith('qRcmd,')) return this.monitor(Buffer.from(fromHex(p.slice(6))).toString());
    return '';
  }

  /** `monitor` commands; their text goes back as an O packet. */
  private monitor(cmd: string): string {
    const t = this.target;
    const out = (s: string) => this.send('O' + toHex(new TextEncoder().encode(s)));
    const words = cmd.trim().split(/\s+/);
    if (words[0] === 'icount') {
      out(`icount ${t.vm.cpu.icount}\n`);
      return 'OK';
    }
    if (words[0] === 'seek' && words.length === 2) {
      if (!t.reversible) {
        out('seek needs a replay\n');
        return 'E01';
      }
      const n = instructionCount(words[1]);
      if (n === undefined) {
        out('usage: monitor seek ICOUNT (a whole number, or with k, M or G: 150M)\n');
        return 'E01';
      }
      this.last = t.seek(n);
      out(`icount ${t.vm.cpu.icount}\n`);
      return 'OK';
    }
    out('vmrs monitor commands: icount, seek ICOUNT\n');
    return 'OK';
  }
}
