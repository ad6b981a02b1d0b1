/**
 * One line about an Ethernet frame, as a person scanning a timeline wants
 * it: ARP's question or answer, IP's protocol, addresses and ports, TCP's
 * flags. Never throws: a short or odd frame is described as far as it goes.
 */

const IP_PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };

const ipv4 = (f: Uint8Array, o: number) => Array.from(f.subarray(o, o + 4)).join('.');

/** An IPv6 address, its longest run of zero groups written :: (RFC 5952). */
function ipv6(f: Uint8Array, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((f[o + 2 * i] << 8) | f[o + 2 * i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j > i ? j : i + 1;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

const mac = (f: Uint8Array, o: number) =>
  Array.from(f.subarray(o, o + 6), (b) => b.toString(16).padStart(2, '0')).join(':');

/** TCP's flags as tcpdump shows them: [S], [S.], [P.], [F.], [R]. */
function tcpFlags(b: number): string {
  let s = '';
  if (b & 0x02) s += 'S';
  if (b & 0x01) s += 'F';
  if (b & 0x04) s += 'R';
  if (b & 0x08) s += 'P';
  if (b & 0x10) s += '.';
  return `[${s || 'none'}]`;
}

/** The transport part: ports and flags for TCP and UDP, the type for ICMP. */
function transport(f: Uint8Array, proto: number, o: number, from: string, to: string): string {
  const name = IP_PROTOCOLS[proto] ?? `protocol ${proto}`;
  const port = (p: number) => (f[p] << 8) | f[p + 1];
  if ((proto === 6 || proto === 17) && o + 4 <= f.length) {
    const at = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
    const s = `${name} ${at(from, port(o))} → ${at(to, port(o + 2))}`;
    return proto === 6 && o + 14 <= f.length ? `${s} ${tcpFlags(f[o + 13])}` : s;
  }
  if (proto === 1 && o < f.length) {
    const t = f[o];
    const what = t === 8 ? 'echo request' : t === 0 ? 'echo reply' : `type ${t}`;
    return `ICMP ${what} ${from} → ${to}`;
  }
  return `${name} ${from} → ${to}`;
}

/** What a trace's arguments carry of a frame (perfetto.ts), and what describeFrame reads. */
export interface FrameFields {
  /** After an 802.1Q tag, if there is one. */
  ethertype: number;
  /** Where the ethertype's payload starts. */
  payloadAt: number;
  /** IPv4 or IPv6: the protocol (next header), the addresses, where the transport header starts. */
  ip?: { protocol: number; from: string; to: string; at: number };
}

/** The fields of frame `f`, as far as it has them; undefined for a runt (shorter than a header). */
export function frameFields(f: Uint8Array): FrameFields | undefined {
  if (f.length < 14) return undefined;
  let o = 12;
  let type = (f[o] << 8) | f[o + 1];
  if (type === 0x8100 && f.length >= 18) {
    o += 4; // an 802.1Q tag
    type = (f[o] << 8) | f[o + 1];
  }
  o += 2;
  const out: FrameFields = { ethertype: type, payloadAt: o };
  if (type === 0x0800 && o + 20 <= f.length) {
    // IPv4 (RFC 791): header length in words at 0, protocol at 9, addresses at 12 and 16.
    const ihl = (f[o] & 0x0f) * 4;
    out.ip = { protocol: f[o + 9], from: ipv4(f, o + 12), to: ipv4(f, o + 16), at: o + ihl };
  } else if (type === 0x86dd && o + 40 <= f.length) {
    // IPv6 (RFC 8200): next header at 6, addresses at 8 and 24 (extension headers not followed).
    out.ip = { protocol: f[o + 6], from: ipv6(f, o + 8), to: ipv6(f, o + 24), at: o + 40 };
  }
  return out;
}

/** An IP protocol's name (TCP, UDP, ICMP, ICMPv6), or undefined. */
export function ipProtocolName(protocol: number): string | undefined {
  return IP_PROTOCOLS[protocol];
}

/** E.g. "UDP 10.0.2.15:68 → 255.255.255.255:67, 342 bytes" or "ARP who has 10.0.2.2? tell 10.0.2.15, 42 bytes". */
export function describeFrame(f: Uint8Array): string {
  const size = `${f.length} bytes`;
  const fields = frameFields(f);
  if (fields === undefined) return `runt frame, ${size}`;
  const { ethertype: type, payloadAt: o, ip } = fields;
  let what: string;
  if (type === 0x0806 && o + 28 <= f.length) {
    // ARP for IPv4 over Ethernet (RFC 826): op at 6, sender MAC/IP at 8/14, target IP at 24.
    const op = (f[o + 6] << 8) | f[o + 7];
    what =
      op === 1
        ? `ARP who has ${ipv4(f, o + 24)}? tell ${ipv4(f, o + 14)}`
        : op === 2
          ? `ARP ${ipv4(f, o + 14)} is at ${mac(f, o + 8)}`
          : `ARP op ${op}`;
  } else if (ip !== undefined) {
    what = transport(f, ip.protocol, ip.at, ip.from, ip.to);
  } else {
    what = `ethertype 0x${type.toString(16).padStart(4, '0')}`;
  }
  return `${what}, ${size}`;
}
