/** A flattened device tree (DTB v17) writer: nodes, properties, string table. */
export type FdtValue = number[] | string | string[] | Uint8Array | { u64: number[] } | null;

export interface FdtNode {
  name: string;
  props: [string, FdtValue][];
  children: FdtNode[];
}

export function node(
  name: string,
  props: [string, FdtValue][] = [],
  children: FdtNode[] = [],
): FdtNode {
  return { name, props, children };
}

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1,
  FDT_END_NODE = 2,
  FDT_PROP = 3,
  FDT_END = 9;

function encodeValue(v: FdtValue): Uint8Array {
  if (v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  const enc = new TextEncoder();
  if (typeof v === 'string') {
    const s = enc.encode(v);
    const out = new Uint8Array(s.length + 1);
    out.set(s);
    return out;
  }
  if (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'string')) {
    const parts = (v as string[]).map((s) => enc.encode(s));
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length + 1, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length + 1;
    }
    return out;
  }
  if (!Array.isArray(v)) {
    // u64 values as pairs of cells
    const out = new Uint8Array(v.u64.length * 8);
    const dv = new DataView(out.buffer);
    v.u64.forEach((x, i) => {
      dv.setUint32(i * 8, Math.floor(x / 4294967296), false);
      dv.setUint32(i * 8 + 4, x >>> 0, false);
    });
    return out;
  }
  const cells = v as number[];
  const out = new Uint8Array(cells.length * 4);
  const dv = new DataView(out.buffer);
  cells.forEach((c, i) => dv.setUint32(i * 4, c >>> 0, false));
  return out;
}

/** Serialise a tree into a DTB blob (boot_cpuid 0, no memory reservations). */
export function buildDtb(root: FdtNode): Uint8Array {
  const struct: number[] = [];
  const strings: number[] = [];
  const strOff = new Map<string, number>();
  const enc = new TextEncoder();
  const pushU32 = (x: number) =>
    struct.push((x >>> 24) & 0xff, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff);
  const pushBytes = (b: Uint8Array) => {
    for (const x of b) struct.push(x);
    while (struct.length % 4) struct.push(0);
  };
  const nameOff = (n: string) => {
    let o = strOff.get(n);
    if (o === undefined) {
      o = strings.length;
      strOff.set(n, o);
      for (const b of enc.encode(n)) strings.push(b);
      strings.push(0);
    }
    return o;
  };
  const walk = (n: FdtNode) => {
    pushU32(FDT_BEGIN_NODE);
    const nm = enc.encode(n.name);
    const withNul = new Uint8Array(nm.length + 1);
    withNul.set(nm);
    pushBytes(withNul);
    for (const [k, v] of n.props) {
      const data = encodeValue(v);
      pushU32(FDT_PROP);
      pushU32(data.length);
      pushU32(nameOff(k));
      pushBytes(data);
    }
    for (const c of n.children) walk(c);
    pushU32(FDT_END_NODE);
  };
  walk(root);
  pushU32(FDT_END);
  const headerSize = 40;
  const rsvOff = headerSize;
  const rsvSize = 16; // one terminating entry
  const structOff = rsvOff + rsvSize;
  const stringsOff = structOff + struct.length;
  const total = (stringsOff + strings.length + 7) & ~7;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, FDT_MAGIC);
  dv.setUint32(4, total);
  dv.setUint32(8, structOff);
  dv.setUint32(12, stringsOff);
  dv.setUint32(16, rsvOff);
  dv.setUint32(20, 17);
  dv.setUint32(24, 16);
  dv.setUint32(28, 0);
  dv.setUint32(32, strings.length);
  dv.setUint32(36, struct.length);
  out.set(struct, structOff);
  out.set(strings, stringsOff);
  return out;
}
