/**
 * `vmrs trace --perfetto OUT.json`: the run as a Chrome trace-event file
 * (the JSON Array format), which Perfetto UI and chrome://tracing open.
 *
 * - a track per guest process (pid; named after its command) with a slice
 *   for each system call, from the call to its return;
 * - a "kernel" process: a slice for each trap and interrupt taken, from
 *   the trap to the xRET that ends it (system calls are on their process);
 * - a "console" track with an instant for each line the guest wrote;
 * - instants for inputs (typed text, frames in), for the frames the guest
 *   sent (named by frame-summary.ts) and for its disks' requests;
 * - an "idle" track: a slice for each wait the guest slept through (a time jump);
 * - a counter of instructions per guest millisecond.
 *
 * Time is guest time in microseconds. Events are written as they come; the
 * closing bracket is optional in this format, so a trace cut short (a
 * killed vmrs) still opens, up to where it stopped.
 */
import type { TrapEvent, XretEvent } from '../plugin/plugin-api.js';
import type { TracedCall } from './syscall-trace.js';
import { describeFrame, frameFields, ipProtocolName } from './frame-summary.js';
import { describeDiskRequest } from '../replay/guest-actions.js';
import type { BlkRequest } from '../devices/virtio/blk.js';

const KERNEL = 0;
/** Microseconds to a tenth (the timebase's resolution), without float noise in the file. */
const us1 = (v: number): number => Math.round(v * 10) / 10;
const TID_TRAPS = 1;
const TID_CONSOLE = 2;
const TID_INPUT = 3;
const TID_SENT = 4;
const TID_IDLE = 5;
const TID_DISK = 6;

/** A frame's arguments: its size, its ethertype and, for IP, the protocol (lower case) and addresses. */
function frameArgs(f: Uint8Array, args: Record<string, unknown>): Record<string, unknown> {
  args.bytes = f.length;
  const fields = frameFields(f);
  args.ethertype = fields ? `0x${fields.ethertype.toString(16).padStart(4, '0')}` : '?';
  if (fields?.ip) {
    const { protocol, from, to } = fields.ip;
    args.protocol = ipProtocolName(protocol)?.toLowerCase() ?? protocol;
    args.from = from;
    args.to = to;
  }
  return args;
}

interface Open {
  name: string;
  us: number;
  icount: number;
}

export class PerfettoTrace {
  private first = true;
  private readonly names = new Map<number, string>();
  private readonly traps: Open[] = [];
  private line: number[] = [];
  private lineUs = 0;
  private counterUs = -1;
  private counterIcount = 0;
  /** Events written. */
  events = 0;

  constructor(private readonly write: (text: string) => void) {
    this.write('[\n');
    this.meta(KERNEL, 0, 'process_name', 'kernel');
    this.meta(KERNEL, TID_TRAPS, 'thread_name', 'traps and interrupts');
    this.meta(KERNEL, TID_CONSOLE, 'thread_name', 'console');
    this.meta(KERNEL, TID_INPUT, 'thread_name', 'inputs (typed text, network frames)');
    this.meta(KERNEL, TID_SENT, 'thread_name', 'network frames sent');
    this.meta(KERNEL, TID_IDLE, 'thread_name', 'idle (waiting for a timer or input)');
    this.meta(KERNEL, TID_DISK, 'thread_name', 'disk requests');
  }

  private event(e: Record<string, unknown>): void {
    this.write((this.first ? '' : ',\n') + JSON.stringify(e));
    this.first = false;
    this.events++;
  }

  private meta(pid: number, tid: number, name: string, value: string): void {
    this.event({ ph: 'M', pid, tid, name, args: { name: value } });
  }

  call(c: TracedCall): void {
    const pid = c.pid ?? KERNEL;
    if (c.pid !== undefined && c.comm !== undefined && this.names.get(pid) !== c.comm) {
      this.names.set(pid, c.comm);
      this.meta(pid, pid, 'process_name', `${c.comm} (${pid})`);
      this.meta(pid, pid, 'thread_name', c.comm);
    }
    this.event({
      ph: 'X',
      cat: 'syscall',
      name: c.name,
      pid,
      tid: pid,
      ts: us1(c.us),
      dur: us1(Math.max(c.endUs - c.us, 0)),
      args: { call: `${c.name}(${c.args}) = ${c.result}`, icount: c.icount },
    });
  }

  trap(t: TrapEvent, us: number): void {
    this.traps.push({ name: t.name, us, icount: t.icount });
  }

  xret(x: XretEvent, us: number): void {
    const open = this.traps.pop();
    if (open === undefined || open.name === 'ecall-u') return; // system calls: on their process
    this.event({
      ph: 'X',
      cat: 'trap',
      name: open.name,
      pid: KERNEL,
      tid: TID_TRAPS,
      ts: us1(open.us),
      dur: us1(Math.max(us - open.us, 0)),
      args: { icount: open.icount, returnTo: x.to },
    });
  }

  /** Instructions per guest millisecond, once a guest millisecond has passed. */
  tick(icount: number, us: number): void {
    if (this.counterUs < 0) {
      this.counterUs = us;
      this.counterIcount = icount;
      return;
    }
    if (us - this.counterUs < 1000) return;
    const perMs = ((icount - this.counterIcount) * 1000) / (us - this.counterUs);
    this.event({
      ph: 'C',
      name: 'instructions per guest ms',
      pid: KERNEL,
      ts: us1(us),
      args: { instructions: Math.round(perMs) },
    });
    this.counterUs = us;
    this.counterIcount = icount;
  }

  /** A byte the guest wrote to its console. */
  console(byte: number, us: number): void {
    if (this.line.length === 0) this.lineUs = us;
    if (byte !== 0x0a) {
      if (this.line.length < 200) this.line.push(byte);
      return;
    }
    this.flushLine();
  }

  private flushLine(): void {
    if (this.line.length === 0) return;
    const text = String.fromCharCode(...this.line).replace(/\r/g, '');
    this.line = [];
    this.event({
      ph: 'i',
      s: 't',
      cat: 'console',
      name: text.slice(0, 60),
      pid: KERNEL,
      tid: TID_CONSOLE,
      ts: us1(this.lineUs),
      args: { text },
    });
  }

  /** An input entering the machine: typed text or a network frame (an instant); idle jumps and entropy are left out. */
  input(kind: string, nic: number | undefined, data: Uint8Array, value: number, us: number): void {
    let name: string;
    const args: Record<string, unknown> = {};
    if (kind === 'console' || kind === 'hvc') {
      const text = String.fromCharCode(...data.subarray(0, 200));
      name = `typed ${JSON.stringify(text).slice(0, 60)}`;
      args.text = text;
    } else if (kind === 'net-frame') {
      name = `frame in: ${describeFrame(data)}`;
      args.nic = nic;
      frameArgs(data, args);
    } else if (kind === 'net-link') {
      name = `link ${value === 1 ? 'up' : 'down'}`;
      args.nic = nic;
    } else return;
    this.event({
      ph: 'i',
      s: 't',
      cat: kind,
      name,
      pid: KERNEL,
      tid: TID_INPUT,
      ts: us1(us),
      args,
    });
  }

  /** The guest idled (WFI with nothing pending) from `fromUs` until `toUs`, when time jumped on. */
  idle(fromUs: number, toUs: number): void {
    this.event({
      ph: 'X',
      cat: 'idle',
      name: 'idle',
      pid: KERNEL,
      tid: TID_IDLE,
      ts: us1(fromUs),
      dur: us1(Math.max(toUs - fromUs, 0)),
    });
  }

  /** A frame the guest sent (an instant: its length, Ethernet type, and for IP the protocol and addresses). */
  sent(nic: number, frame: Uint8Array, us: number): void {
    const args = frameArgs(frame, { nic });
    this.event({
      ph: 'i',
      s: 't',
      cat: 'net-frame-out',
      name: `frame out: ${describeFrame(frame)}`,
      pid: KERNEL,
      tid: TID_SENT,
      ts: us1(us),
      args,
    });
  }

  /** A request a disk carried out (an instant; blk.ts BlkRequestObserver). */
  diskRequest(disk: number, request: BlkRequest, us: number): void {
    this.event({
      ph: 'i',
      s: 't',
      cat: 'disk',
      name: describeDiskRequest(disk, request),
      pid: KERNEL,
      tid: TID_DISK,
      ts: us1(us),
      args: { disk, ...request },
    });
  }

  end(): void {
    this.flushLine();
    this.write('\n]\n');
  }
}
