/**
 * A flattened device tree reader for tests, written from the DTB
 * specification (devicetree.org, v0.4 ch. 5) independently of vmrs's
 * writer (src/machine/fdt.ts), so the two can check each other and QEMU's
 * blobs can be read the same way.
 */
export interface DtNode {
  path: string;
  props: Map<string, Uint8Array>;
  children: string[];
}

const FDT_MAGIC = 0xd00dfeed;
const BEGIN_NODE = 1,
  END_NODE = 2,
  PROP = 3,
  NOP = 4,
  END = 9;

/** Every node of a DTB by its full path ('/', '/soc', '/soc/serial@10000000'...). */
export function readDtb(blob: Uint8Array): Map<string, DtNode> {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (dv.getUint32(0) !== FDT_MAGIC) throw new Error('not a DTB (bad magic)');
  if (dv.getUint32(4) > blob.length) throw new Error('DTB totalsize is larger than the blob');
  const structOff = dv.getUint32(8);
  const stringsOff = dv.getUint32(12);
  const cstr = (at: number): [string, number] => {
    let end = at;
    while (blob[end] !== 0) end++;
    return [new TextDecoder().decode(blob.subarray(at, end)), end + 1];
  };
  const nodes = new Map<string, DtNode>();
  const stack: DtNode[] = [];
  let o = structOff;
  for (;;) {
    const token = dv.getUint32(o);
    o += 4;
    if (token === BEGIN_NODE) {
      const [name, next] = cstr(o);
      o = (next + 3) & ~3;
      const parent = stack[stack.length - 1];
      const path = !parent ? '/' : parent.path === '/' ? `/${name}` : `${parent.path}/${name}`;
      if (nodes.has(path)) throw new Error(`DTB has node ${path} twice`);
      const n: DtNode = { path, props: new Map(), children: [] };
      parent?.children.push(path);
      nodes.set(path, n);
      stack.push(n);
    } else if (token === PROP) {
      const len = dv.getUint32(o);
      const [name] = cstr(stringsOff + dv.getUint32(o + 4));
      const value = blob.slice(o + 8, o + 8 + len);
      o = (o + 8 + len + 3) & ~3;
      const n = stack[stack.length - 1];
      if (!n) throw new Error('DTB property outside a node');
      if (n.props.has(name)) throw new Error(`DTB node ${n.path} has ${name} twice`);
      n.props.set(name, value);
    } else if (token === END_NODE) {
      if (!stack.pop()) throw new Error('DTB END_NODE without a node');
    } else if (token === NOP) {
      continue;
    } else if (token === END) {
      if (stack.length) throw new Error('DTB ends inside a node');
      return nodes;
    } else throw new Error(`DTB: unknown token ${token} at ${o - 4}`);
  }
}

/** A property as big-endian 32-bit cells. */
export function cells(v: Uint8Array): number[] {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return Array.from({ length: v.length >> 2 }, (_, i) => dv.getUint32(i * 4));
}

/** A property as its NUL-separated strings. */
export function strings(v: Uint8Array): string[] {
  const s = new TextDecoder().decode(v);
  return s.endsWith('\0') ? s.slice(0, -1).split('\0') : [s];
}
