/**
 * The DWARF structure reader: on small DWARF 4 and DWARF 5 files written
 * here byte by byte (every attribute form, both kinds of member location,
 * anonymous unions, declarations that must be passed over), on every cut
 * and random corruption of them (a DwarfError or a right answer, never a
 * crash), and on the default guest's vmlinux, against what GDB says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { DwarfError, DwarfStructs } from '../../src/analysis/dwarf.js';
import { ensureDefaultGuest } from '../../src/host/default-guest.js';
import { testRng } from '../helpers/seed.js';
import { needTools } from '../helpers/tools.js';

// DWARF numbers (DWARF5 7.5).
const TAG = {
  array_type: 0x01,
  compile_unit: 0x11,
  member: 0x0d,
  structure_type: 0x13,
  subrange_type: 0x21,
  typedef: 0x16,
  union_type: 0x17,
  base_type: 0x24,
  const_type: 0x26,
  subprogram: 0x2e,
  variable: 0x34,
  volatile_type: 0x35,
};
const AT = {
  sibling: 0x01,
  location: 0x02,
  name: 0x03,
  byte_size: 0x0b,
  bit_size: 0x0d,
  stmt_list: 0x10,
  low_pc: 0x11,
  high_pc: 0x12,
  producer: 0x25,
  upper_bound: 0x2f,
  const_value: 0x1c,
  data_member_location: 0x38,
  declaration: 0x3c,
  encoding: 0x3e,
  frame_base: 0x40,
  type: 0x49,
  data_bit_offset: 0x6b,
  str_offsets_base: 0x72,
};
const FORM = {
  addr: 0x01,
  data2: 0x05,
  data4: 0x06,
  data8: 0x07,
  string: 0x08,
  block1: 0x0a,
  data1: 0x0b,
  flag: 0x0c,
  sdata: 0x0d,
  strp: 0x0e,
  udata: 0x0f,
  ref_addr: 0x10,
  ref1: 0x11,
  ref2: 0x12,
  ref4: 0x13,
  ref8: 0x14,
  ref_udata: 0x15,
  indirect: 0x16,
  sec_offset: 0x17,
  exprloc: 0x18,
  flag_present: 0x19,
  strx: 0x1a,
  data16: 0x1e,
  line_strp: 0x1f,
  implicit_const: 0x21,
  strx1: 0x25,
  strx2: 0x26,
  strx3: 0x27,
  strx4: 0x28,
  addrx1: 0x29,
};
const OP_plus_uconst = 0x23;

/** A growing little-endian byte buffer that can patch what it wrote. */
class Bytes {
  private a: number[] = [];
  get length(): number {
    return this.a.length;
  }
  u8(v: number): this {
    this.a.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    return this.uint(v, 4);
  }
  uint(v: number, n: number): this {
    for (let i = 0; i < n; i++) this.a.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
    return this;
  }
  uleb(v: number, minBytes = 1): this {
    for (let i = 0; ; i++) {
      const b = v % 128;
      v = Math.floor(v / 128);
      if (v === 0 && i + 1 >= minBytes) return this.u8(b);
      this.u8(b | 0x80);
    }
  }
  sleb(v: number): this {
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return this.u8(b);
      this.u8(b | 0x80);
    }
  }
  cstr(s: string): this {
    for (const b of Buffer.from(s)) this.a.push(b);
    return this.u8(0);
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.a.push(b[i]);
    return this;
  }
  patch(at: number, v: number, n: number): void {
    for (let i = 0; i < n; i++) this.a[at + i] = Number((BigInt(v) >> BigInt(8 * i)) & 0xffn);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.a);
  }
}

type Value = number | string | Uint8Array | { ref: string } | 'strOffsetsBase';
interface Attr {
  at: number;
  form: number;
  value?: Value;
  /** With DW_FORM_indirect: the form written in the entry. */
  inner?: number;
}
interface Node {
  tag: number;
  attrs: Attr[];
  children?: Node[];
  label?: string;
  /** Give the entry a DW_AT_sibling (ref4) to the entry after its subtree. */
  sibling?: boolean;
}
interface UnitSpec {
  version: 4 | 5;
  format64?: boolean;
  root: Node;
}

const a = (at: number, form: number, value?: Value, inner?: number): Attr => ({
  at,
  form,
  value,
  inner,
});
const ref = (label: string) => ({ ref: label });

interface DebugSections {
  info: Uint8Array;
  abbrev: Uint8Array;
  str: Uint8Array;
  lineStr: Uint8Array;
  strOffsets: Uint8Array;
}

/** The DWARF sections of `units`: one abbreviation per entry, references patched at the end. */
function encode(units: UnitSpec[]): DebugSections {
  const info = new Bytes();
  const abbrev = new Bytes();
  const str = new Bytes();
  const lineStr = new Bytes();
  const strOffsets = new Bytes();
  const strAt = new Map<string, number>();
  const lineStrAt = new Map<string, number>();
  const intern = (b: Bytes, m: Map<string, number>, s: string) => {
    let at = m.get(s);
    if (at === undefined) {
      at = b.length;
      m.set(s, at);
      b.cstr(s);
    }
    return at;
  };
  const labels = new Map<string, number>();
  const patches: { at: number; n: number; label: string; base: number }[] = [];
  for (const unit of units) {
    const off = unit.format64 ? 8 : 4;
    const unitStart = info.length;
    const abbrevStart = abbrev.length;
    const strs: string[] = [];
    const strBase = strOffsets.length + (unit.format64 ? 16 : 8);
    let code = 1;
    if (unit.format64) info.u32(0xffffffff).uint(0, 8);
    else info.u32(0);
    const lengthEnd = info.length;
    info.uint(unit.version, 2);
    if (unit.version === 5) info.u8(1).u8(8).uint(abbrevStart, off);
    else info.uint(abbrevStart, off).u8(8);

    const value = (form: number, v: Value | undefined): void => {
      const n = (x: Value | undefined) => x as number;
      const strIndex = (s: string) => {
        let i = strs.indexOf(s);
        if (i < 0) i = strs.push(s) - 1;
        return i;
      };
      switch (form) {
        case FORM.addr:
        case FORM.data8:
          return void info.uint(n(v), 8);
        case FORM.data1:
        case FORM.flag:
        case FORM.addrx1:
          return void info.u8(n(v));
        case FORM.data2:
          return void info.uint(n(v), 2);
        case FORM.data4:
          return void info.uint(n(v), 4);
        case FORM.data16:
          return void info.raw(v as Uint8Array);
        case FORM.string:
          return void info.cstr(v as string);
        case FORM.strp:
          return void info.uint(intern(str, strAt, v as string), off);
        case FORM.line_strp:
          return void info.uint(intern(lineStr, lineStrAt, v as string), off);
        case FORM.strx:
          return void info.uleb(strIndex(v as string));
        case FORM.strx1:
        case FORM.strx2:
        case FORM.strx3:
        case FORM.strx4:
          return void info.uint(strIndex(v as string), form - FORM.strx1 + 1);
        case FORM.udata:
          return void info.uleb(n(v));
        case FORM.sdata:
          return void info.sleb(n(v));
        case FORM.flag_present:
        case FORM.implicit_const:
          return;
        case FORM.exprloc:
          return void info.uleb((v as Uint8Array).length).raw(v as Uint8Array);
        case FORM.block1:
          return void info.u8((v as Uint8Array).length).raw(v as Uint8Array);
        case FORM.sec_offset:
          return void info.uint(v === 'strOffsetsBase' ? strBase : n(v), off);
        case FORM.ref1:
        case FORM.ref2:
        case FORM.ref4:
        case FORM.ref8:
        case FORM.ref_addr: {
          const size = { [FORM.ref1]: 1, [FORM.ref2]: 2, [FORM.ref4]: 4, [FORM.ref8]: 8 }[form];
          const label = (v as { ref: string }).ref;
          patches.push({
            at: info.length,
            n: size ?? off,
            label,
            base: form === FORM.ref_addr ? 0 : unitStart,
          });
          return void info.uint(0, size ?? off);
        }
        case FORM.ref_udata:
          // Written as a 5-byte LEB128 (padding is allowed) so it can be patched.
          patches.push({
            at: info.length,
            n: -5,
            label: (v as { ref: string }).ref,
            base: unitStart,
          });
          return void info.uleb(0, 5);
        default:
          throw new Error(`test encoder: form ${form}`);
      }
    };

    const die = (node: Node): void => {
      if (node.label) labels.set(node.label, info.length);
      const attrs = [...node.attrs];
      let siblingLabel: string | undefined;
      if (node.sibling) {
        siblingLabel = `sibling-of-${unitStart}-${info.length}`;
        attrs.unshift(a(AT.sibling, FORM.ref4, ref(siblingLabel)));
      }
      abbrev
        .uleb(code)
        .uleb(node.tag)
        .u8(node.children ? 1 : 0);
      for (const x of attrs) {
        abbrev.uleb(x.at).uleb(x.form);
        if (x.form === FORM.implicit_const) abbrev.sleb(x.value as number);
      }
      abbrev.u8(0).u8(0);
      info.uleb(code++);
      for (const x of attrs) {
        if (x.form === FORM.indirect) {
          info.uleb(x.inner!);
          value(x.inner!, x.value);
        } else value(x.form, x.value);
      }
      if (node.children) {
        for (const c of node.children) die(c);
        info.u8(0);
      }
      if (siblingLabel) labels.set(siblingLabel, info.length);
    };
    die(unit.root);
    abbrev.u8(0);
    info.patch(unitStart + (unit.format64 ? 4 : 0), info.length - lengthEnd, off);
    if (unit.version === 5) {
      // A .debug_str_offsets contribution: length, version 5, padding (DWARF5 7.26).
      const len = 4 + strs.length * off;
      if (unit.format64) strOffsets.u32(0xffffffff).uint(len, 8);
      else strOffsets.u32(len);
      strOffsets.uint(5, 2).uint(0, 2);
      for (const s of strs) strOffsets.uint(intern(str, strAt, s), off);
    } else assert.equal(strs.length, 0, 'string indices need DWARF 5');
  }
  const out = info.done();
  for (const p of patches) {
    const target = labels.get(p.label);
    assert.ok(target !== undefined, `label ${p.label}`);
    const v = target - p.base;
    if (p.n < 0) {
      const b = new Bytes().uleb(v, -p.n).done();
      out.set(b, p.at);
    } else
      for (let i = 0; i < p.n; i++) out[p.at + i] = Number((BigInt(v) >> BigInt(8 * i)) & 0xffn);
  }
  return {
    info: out,
    abbrev: abbrev.done(),
    str: str.done(),
    lineStr: lineStr.done(),
    strOffsets: strOffsets.done(),
  };
}

interface Section {
  name: string;
  data: Uint8Array;
  type?: number;
  flags?: number;
}

const SHF_COMPRESSED = 0x800;

/** A minimal ELF64 little-endian RISC-V file with these sections and no segments. */
function elf64(sections: Section[], eType = 2): Uint8Array {
  const b = new Bytes();
  b.raw([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).uint(0, 8);
  b.uint(eType, 2).uint(243, 2).uint(1, 4).uint(0, 8).uint(0, 8);
  const shoffAt = b.length;
  b.uint(0, 8).uint(0, 4).uint(64, 2).uint(0, 2).uint(0, 2).uint(64, 2);
  b.uint(sections.length + 2, 2).uint(sections.length + 1, 2);
  const names = new Bytes().u8(0);
  const placed: { nameAt: number; at: number; s: Section }[] = [];
  for (const s of [...sections, { name: '.shstrtab', data: new Uint8Array(0), type: 3 }]) {
    const nameAt = names.length;
    names.cstr(s.name);
    placed.push({ nameAt, at: 0, s });
  }
  placed[placed.length - 1].s.data = names.done();
  for (const p of placed) {
    while (b.length % 8) b.u8(0);
    p.at = b.length;
    b.raw(p.s.data);
  }
  while (b.length % 8) b.u8(0);
  b.patch(shoffAt, b.length, 8);
  b.uint(0, 64);
  for (const p of placed)
    b.uint(p.nameAt, 4)
      .uint(p.s.type ?? 1, 4)
      .uint(p.s.flags ?? 0, 8)
      .uint(0, 8)
      .uint(p.at, 8)
      .uint(p.s.data.length, 8)
      .uint(0, 4)
      .uint(0, 4)
      .uint(1, 8)
      .uint(0, 8);
  return b.done();
}

/** A section as SHF_COMPRESSED with ELFCOMPRESS_ZLIB (gABI Elf64_Chdr). */
function compressed(name: string, data: Uint8Array): Section {
  const hdr = new Bytes().uint(1, 4).uint(0, 4).uint(data.length, 8).uint(1, 8).done();
  const body = deflateSync(data);
  const out = new Uint8Array(hdr.length + body.length);
  out.set(hdr);
  out.set(body, hdr.length);
  return { name, data: out, flags: SHF_COMPRESSED };
}

/** A GNU .zdebug_ section: "ZLIB", the size big-endian, the zlib stream. */
function zdebug(name: string, data: Uint8Array): Section {
  const size = new Uint8Array(8);
  new DataView(size.buffer).setBigUint64(0, BigInt(data.length), false);
  const out = Buffer.concat([Buffer.from('ZLIB'), size, deflateSync(data)]);
  return { name: `.z${name.slice(1)}`, data: new Uint8Array(out) };
}

function elfWith(d: DebugSections, compress: boolean | 'zdebug' = false): Uint8Array {
  const s = (name: string, data: Uint8Array): Section =>
    compress === 'zdebug' ? zdebug(name, data) : compress ? compressed(name, data) : { name, data };
  return elf64([
    { name: '.text', data: new Uint8Array([0x13, 0, 0, 0]), flags: 6 },
    s('.debug_info', d.info),
    s('.debug_abbrev', d.abbrev),
    s('.debug_str', d.str),
    s('.debug_line_str', d.lineStr),
    s('.debug_str_offsets', d.strOffsets),
  ]);
}

/*
 * The program both versions describe, as C:
 *
 *   struct task;                         // a declaration first: passed over
 *   struct opaque;                       // only ever declared
 *   void f(void) { struct local_only { int z; } v; }
 *   struct point { int x; int y; };      // y: DWARF 2-style DW_OP_plus_uconst
 *   typedef struct point point_t;
 *   struct task {
 *     int pid;                           // 0
 *     int tgid;                          // 4
 *     union { int a; point_t p; };       // 8, anonymous
 *     char comm[16];                     // 16
 *     const volatile point_t thread;     // 32
 *     int flags : 3;                     // bit 320: no byte offset
 *   };                                   // 48 bytes
 */
const WANT: [string, string, number | undefined][] = [
  ['task', 'pid', 0],
  ['task', 'tgid', 4],
  ['task', 'a', 8],
  ['task', 'p', 8],
  ['task', 'p.y', 12],
  ['task', 'comm', 16],
  ['task', 'thread', 32],
  ['task', 'thread.x', 32],
  ['task', 'thread.y', 36],
  ['task', 'flags', undefined],
  ['task', 'nope', undefined],
  ['task', 'pid.x', undefined],
  ['task', 'comm.x', undefined],
  ['point', 'x', 0],
  ['point', 'y', 4],
  ['opaque', 'x', undefined],
  ['local_only', 'z', undefined],
  ['point_t', 'x', undefined],
  ['nowhere', 'x', undefined],
];
const SIZES: [string, number | undefined][] = [
  ['task', 48],
  ['point', 8],
  ['opaque', undefined],
  ['point_t', undefined],
  ['nowhere', undefined],
];

const plus = (n: number) => Uint8Array.from([OP_plus_uconst, ...new Bytes().uleb(n).done()]);

/** DWARF 4: names in .debug_str and inline, references ref4/ref1/ref2/ref8, locations data1/block1/exprloc. */
function dwarf4(): UnitSpec[] {
  const member = (name: string, type: string, loc?: Attr, extra: Attr[] = []): Node => ({
    tag: TAG.member,
    attrs: [
      a(AT.name, FORM.string, name),
      a(AT.type, FORM.ref4, ref(type)),
      ...(loc ? [loc] : []),
      ...extra,
    ],
  });
  return [
    {
      version: 4,
      root: {
        tag: TAG.compile_unit,
        attrs: [
          a(AT.producer, FORM.strp, 'GNU C11 test'),
          a(AT.name, FORM.string, 'a.c'),
          a(AT.stmt_list, FORM.sec_offset, 0),
          a(AT.low_pc, FORM.addr, 0x80200000),
          a(AT.high_pc, FORM.data8, 0x100),
        ],
        children: [
          {
            tag: TAG.base_type,
            label: 'int',
            attrs: [
              a(AT.byte_size, FORM.data1, 4),
              a(AT.encoding, FORM.data1, 5),
              a(AT.name, FORM.string, 'int'),
            ],
          },
          {
            tag: TAG.base_type,
            label: 'char',
            attrs: [
              a(AT.byte_size, FORM.data1, 1),
              a(AT.encoding, FORM.data1, 6),
              a(AT.name, FORM.strp, 'char'),
            ],
          },
          {
            tag: TAG.structure_type,
            attrs: [a(AT.name, FORM.strp, 'task'), a(AT.declaration, FORM.flag, 1)],
          },
          {
            tag: TAG.structure_type,
            attrs: [a(AT.name, FORM.strp, 'opaque'), a(AT.declaration, FORM.flag_present)],
          },
          {
            tag: TAG.subprogram,
            sibling: true,
            attrs: [
              a(AT.name, FORM.string, 'f'),
              a(AT.frame_base, FORM.exprloc, Uint8Array.of(0x9c)),
            ],
            children: [
              {
                tag: TAG.structure_type,
                label: 'local',
                attrs: [a(AT.name, FORM.string, 'local_only'), a(AT.byte_size, FORM.data1, 4)],
                children: [member('z', 'int', a(AT.data_member_location, FORM.data1, 0))],
              },
              {
                tag: TAG.variable,
                attrs: [
                  a(AT.name, FORM.string, 'v'),
                  a(AT.type, FORM.ref1, ref('local')),
                  a(AT.location, FORM.exprloc, Uint8Array.of(0x91, 0x6c)),
                ],
              },
            ],
          },
          {
            tag: TAG.structure_type,
            label: 'point',
            sibling: true,
            attrs: [a(AT.name, FORM.strp, 'point'), a(AT.byte_size, FORM.data1, 8)],
            children: [
              member('x', 'int', a(AT.data_member_location, FORM.data1, 0)),
              member('y', 'int', a(AT.data_member_location, FORM.exprloc, plus(4))),
            ],
          },
          {
            tag: TAG.typedef,
            label: 'point_t',
            attrs: [a(AT.name, FORM.string, 'point_t'), a(AT.type, FORM.ref2, ref('point'))],
          },
          { tag: TAG.const_type, label: 'cpoint', attrs: [a(AT.type, FORM.ref8, ref('point_t'))] },
          {
            tag: TAG.volatile_type,
            label: 'cvpoint',
            attrs: [a(AT.type, FORM.ref4, ref('cpoint'))],
          },
          {
            // No sibling: its children are walked.
            tag: TAG.array_type,
            label: 'comm',
            attrs: [a(AT.type, FORM.ref4, ref('char'))],
            children: [
              {
                tag: TAG.subrange_type,
                attrs: [a(AT.type, FORM.ref4, ref('int')), a(AT.upper_bound, FORM.data1, 15)],
              },
            ],
          },
          {
            tag: TAG.union_type,
            label: 'anon',
            sibling: true,
            attrs: [a(AT.byte_size, FORM.data1, 8)],
            children: [member('a', 'int'), member('p', 'point_t')],
          },
          {
            tag: TAG.structure_type,
            attrs: [a(AT.name, FORM.strp, 'task'), a(AT.byte_size, FORM.data1, 48)],
            children: [
              member('pid', 'int', a(AT.data_member_location, FORM.data1, 0)),
              member('tgid', 'int', a(AT.data_member_location, FORM.exprloc, plus(4))),
              {
                tag: TAG.member,
                attrs: [
                  a(AT.type, FORM.ref4, ref('anon')),
                  a(AT.data_member_location, FORM.udata, 8),
                ],
              },
              member('comm', 'comm', a(AT.data_member_location, FORM.block1, plus(16))),
              member('thread', 'cvpoint', a(AT.data_member_location, FORM.data2, 32)),
              member('flags', 'int', undefined, [
                a(AT.byte_size, FORM.data1, 4),
                a(AT.bit_size, FORM.data1, 3),
                a(AT.data_bit_offset, FORM.data2, 320),
              ]),
            ],
          },
        ],
      },
    },
  ];
}

/**
 * DWARF 5, in two units: the first declares task and defines point, the
 * second defines task and reaches point_t through DW_FORM_ref_addr. Names
 * by string index (strx1-4, strx), the unit's by line_strp; sizes and a
 * location as implicit constants; a data16 constant; an indirect form.
 */
function dwarf5(format64 = false): UnitSpec[] {
  const cu = (name: string, children: Node[]): Node => ({
    tag: TAG.compile_unit,
    attrs: [
      a(AT.producer, FORM.strx1, 'GNU C11 12.2.0'),
      a(AT.name, FORM.line_strp, name),
      a(AT.str_offsets_base, FORM.sec_offset, 'strOffsetsBase'),
      a(AT.stmt_list, FORM.sec_offset, 0),
    ],
    children,
  });
  const base = (label: string, name: string, size: number): Node => ({
    tag: TAG.base_type,
    label,
    attrs: [
      a(AT.byte_size, FORM.implicit_const, size),
      a(AT.encoding, FORM.data1, 5),
      a(AT.name, FORM.strx2, name),
    ],
  });
  const member = (name: string, type: Attr, loc?: Attr, extra: Attr[] = []): Node => ({
    tag: TAG.member,
    attrs: [a(AT.name, FORM.strx, name), type, ...(loc ? [loc] : []), ...extra],
  });
  const t = (label: string, form = FORM.ref4) => a(AT.type, form, ref(label));
  return [
    {
      version: 5,
      format64,
      root: cu('a.c', [
        base('int1', 'int', 4),
        {
          tag: TAG.structure_type,
          attrs: [a(AT.name, FORM.strx1, 'task'), a(AT.declaration, FORM.flag_present)],
        },
        {
          tag: TAG.structure_type,
          attrs: [a(AT.name, FORM.strx4, 'opaque'), a(AT.declaration, FORM.flag_present)],
        },
        {
          tag: TAG.variable,
          attrs: [
            a(AT.name, FORM.strx3, 'big'),
            t('int1'),
            a(AT.const_value, FORM.data16, new Uint8Array(16).fill(0x80)),
          ],
        },
        {
          tag: TAG.subprogram,
          sibling: true,
          attrs: [a(AT.name, FORM.strx1, 'f'), a(AT.low_pc, FORM.addrx1, 0)],
          children: [
            {
              tag: TAG.structure_type,
              attrs: [a(AT.name, FORM.strx1, 'local_only'), a(AT.byte_size, FORM.data1, 4)],
              children: [member('z', t('int1'), a(AT.data_member_location, FORM.data1, 0))],
            },
          ],
        },
        {
          tag: TAG.structure_type,
          label: 'point',
          attrs: [a(AT.name, FORM.strx1, 'point'), a(AT.byte_size, FORM.implicit_const, 8)],
          children: [
            member(
              'x',
              t('int1', FORM.ref_udata),
              a(AT.data_member_location, FORM.implicit_const, 0),
            ),
            member('y', t('int1'), a(AT.data_member_location, FORM.exprloc, plus(4))),
          ],
        },
        {
          tag: TAG.typedef,
          label: 'point_t',
          attrs: [a(AT.name, FORM.strx1, 'point_t'), t('point')],
        },
      ]),
    },
    {
      version: 5,
      format64,
      root: cu('b.c', [
        base('int', 'int', 4),
        base('char', 'char', 1),
        {
          tag: TAG.structure_type,
          attrs: [a(AT.name, FORM.strx1, 'point'), a(AT.declaration, FORM.flag_present)],
        },
        { tag: TAG.const_type, label: 'cpoint', attrs: [t('point_t', FORM.ref_addr)] },
        { tag: TAG.volatile_type, label: 'cvpoint', attrs: [t('cpoint', FORM.ref_udata)] },
        {
          tag: TAG.array_type,
          label: 'comm',
          sibling: true,
          attrs: [t('char')],
          children: [
            {
              tag: TAG.subrange_type,
              attrs: [t('int'), a(AT.upper_bound, FORM.implicit_const, 15)],
            },
          ],
        },
        {
          tag: TAG.union_type,
          label: 'anon',
          attrs: [a(AT.byte_size, FORM.data1, 8)],
          children: [member('a', t('int')), member('p', t('point_t', FORM.ref_addr))],
        },
        {
          tag: TAG.structure_type,
          sibling: true,
          attrs: [a(AT.name, FORM.strx1, 'task'), a(AT.byte_size, FORM.data2, 48)],
          children: [
            member('pid', t('int'), a(AT.data_member_location, FORM.implicit_const, 0)),
            member('tgid', t('int'), a(AT.data_member_location, FORM.exprloc, plus(4))),
            {
              tag: TAG.member,
              attrs: [t('anon'), a(AT.data_member_location, FORM.indirect, 8, FORM.data1)],
            },
            member('comm', t('comm'), a(AT.data_member_location, FORM.udata, 16)),
            member('thread', t('cvpoint'), a(AT.data_member_location, FORM.sdata, 32)),
            member('flags', t('int'), undefined, [
              a(AT.bit_size, FORM.data1, 3),
              a(AT.data_bit_offset, FORM.implicit_const, 320),
            ]),
          ],
        },
      ]),
    },
  ];
}

function answers(d: DwarfStructs | undefined): (number | undefined)[] {
  if (!d) return [...WANT.map(() => undefined), ...SIZES.map(() => undefined)];
  return [...WANT.map(([s, m]) => d.offsetOf(s, m)), ...SIZES.map(([s]) => d.sizeOf(s))];
}
const RIGHT = [...WANT.map((w) => w[2]), ...SIZES.map((s) => s[1])];

function checkAll(d: DwarfStructs | undefined, what: string): void {
  assert.ok(d, `${what}: has DWARF`);
  for (const [s, m, want] of WANT) assert.equal(d.offsetOf(s, m), want, `${what}: ${s}.${m}`);
  for (const [s, want] of SIZES) assert.equal(d.sizeOf(s), want, `${what}: sizeof ${s}`);
}

const variants: [string, () => DebugSections][] = [
  ['DWARF 4', () => encode(dwarf4())],
  ['DWARF 5', () => encode(dwarf5())],
  ['DWARF 5, 64-bit format', () => encode(dwarf5(true))],
  ['DWARF 4 and 5 units together', () => encode([...dwarf4(), ...dwarf5()])],
];

test('structure members of small DWARF 4 and DWARF 5 files, plain and compressed', () => {
  for (const [name, make] of variants) {
    const sections = make();
    checkAll(DwarfStructs.read(elfWith(sections)), name);
    checkAll(DwarfStructs.read(elfWith(sections, true)), `${name}, zlib-compressed`);
    checkAll(DwarfStructs.read(elfWith(sections, 'zdebug')), `${name}, in .zdebug_ sections`);
  }
});

test('lookups index only as many units as they need, and remember what they found', () => {
  const d = DwarfStructs.read(elfWith(encode([...dwarf5(), ...dwarf4()])))!;
  assert.deepEqual(d.progress, { units: 3, indexed: 0 });
  assert.equal(d.offsetOf('point', 'y'), 4);
  assert.deepEqual(d.progress, { units: 3, indexed: 1 });
  assert.equal(d.offsetOf('task', 'thread.y'), 36);
  assert.deepEqual(d.progress, { units: 3, indexed: 2 });
  assert.equal(d.sizeOf('point'), 8);
  assert.deepEqual(d.progress, { units: 3, indexed: 2 });
  assert.equal(d.sizeOf('nowhere'), undefined);
  assert.deepEqual(d.progress, { units: 3, indexed: 3 });
});

test('a file without DWARF gives undefined; one that is not ELF64 is an error', () => {
  const text = { name: '.text', data: new Uint8Array(8) };
  assert.equal(DwarfStructs.read(elf64([text])), undefined);
  assert.equal(
    DwarfStructs.read(elf64([text, { name: '.debug_info', data: new Uint8Array(0) }])),
    undefined,
  );
  assert.equal(DwarfStructs.read(elf64([])), undefined);
  assert.throws(() => DwarfStructs.read(new TextEncoder().encode('#!/bin/sh\necho\n')), DwarfError);
  const elf32 = elf64([text]);
  elf32[4] = 1;
  assert.throws(() => DwarfStructs.read(elf32), /not a little-endian ELF64/);
  const d = encode(dwarf4());
  assert.throws(
    () => DwarfStructs.read(elf64([{ name: '.debug_info', data: d.info }])),
    /\.debug_info but no \.debug_abbrev/,
  );
  // An object file's DWARF is incomplete until relocated.
  const rel = elf64(
    [
      { name: '.debug_info', data: d.info },
      { name: '.debug_abbrev', data: d.abbrev },
      { name: '.rela.debug_info', data: new Uint8Array(24), type: 4 },
    ],
    1,
  );
  // sh_info of .rela.debug_info (section 3) names .debug_info (section 1).
  const shoff = Number(new DataView(rel.buffer).getBigUint64(40, true));
  new DataView(rel.buffer).setUint32(shoff + 3 * 64 + 44, 1, true);
  assert.throws(() => DwarfStructs.read(rel), /relocatable object/);
});

test('malformed DWARF: unknown versions, reserved lengths, missing abbreviations are named', () => {
  const d = encode(dwarf4());
  const withInfo = (info: Uint8Array) => elfWith({ ...d, info });
  const v = d.info.slice();
  v[4] = 6;
  assert.throws(() => DwarfStructs.read(withInfo(v)), /DWARF version 6; this reader knows 2 to 5/);
  const r = d.info.slice();
  r.set([0xf0, 0xff, 0xff, 0xff]);
  assert.throws(() => DwarfStructs.read(withInfo(r)), /reserved initial length/);
  const c = d.info.slice();
  c[11] = 0x7f; // the unit DIE's abbreviation code
  const bad = DwarfStructs.read(withInfo(c))!;
  assert.throws(
    () => bad.sizeOf('task'),
    /abbreviation code 127, which the unit at 0x0 does not define/,
  );
  assert.throws(() => bad.sizeOf('task'), DwarfError, 'the same error when asked again');
});

/** Every answer is right, or undefined; anything thrown is a DwarfError. */
function rightOrUndefined(elf: Uint8Array, what: string): void {
  let got: (number | undefined)[];
  try {
    got = answers(DwarfStructs.read(elf));
  } catch (e) {
    if (e instanceof DwarfError) return;
    throw new Error(`${what}: ${(e as Error).stack}`);
  }
  got.forEach((g, i) => {
    if (g !== undefined && g !== RIGHT[i])
      assert.fail(`${what}: answer ${i} is ${g}, not ${RIGHT[i]}`);
  });
}

test('every cut of each DWARF section, and of the whole file, gives a DwarfError or right answers', () => {
  let errors = 0;
  for (const [name, make] of variants) {
    const d = make();
    for (const key of ['info', 'abbrev', 'str', 'lineStr', 'strOffsets'] as const)
      for (let n = 0; n < d[key].length; n++)
        rightOrUndefined(
          elfWith({ ...d, [key]: d[key].subarray(0, n) }),
          `${name}: .${key} cut to ${n}`,
        );
    const whole = elfWith(d);
    for (let n = 0; n < whole.length; n++) {
      try {
        DwarfStructs.read(whole.subarray(0, n))?.sizeOf('task');
      } catch (e) {
        if (!(e instanceof DwarfError))
          throw new Error(`${name}: file cut to ${n}: ${(e as Error).stack}`);
        errors++;
      }
    }
  }
  assert.ok(errors > 0);
  // And the message names the place.
  const d = encode(dwarf4());
  assert.throws(
    () => DwarfStructs.read(elfWith({ ...d, info: d.info.subarray(0, 30) })),
    /^DwarfError: \.debug_info is cut short at offset 0x1e: the unit at 0x0 runs to 0x/,
  );
  assert.throws(
    () => DwarfStructs.read(elfWith({ ...d, abbrev: d.abbrev.subarray(0, 30) }))!.sizeOf('task'),
    /\.debug_abbrev is cut short at offset 0x1e/,
  );
});

test('random corruption of the DWARF gives a DwarfError or an answer, never another exception', (t) => {
  const rng = testRng(t);
  for (const [name, make] of variants) {
    const d = make();
    for (let i = 0; i < 1500; i++) {
      const key = rng.shuffled(['info', 'abbrev', 'strOffsets'] as const)[0];
      const bytes = d[key].slice();
      for (let k = rng.range(1, 4); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
      const elf = elfWith({ ...d, [key]: bytes });
      try {
        answers(DwarfStructs.read(elf));
      } catch (e) {
        if (!(e instanceof DwarfError))
          throw new Error(`${name}, ${key} corrupted (try ${i}): ${(e as Error).stack}`);
      }
    }
  }
});

/** What GDB says of each expression (an integer each), or a failure. */
function gdbPrints(vmlinux: string, exprs: string[]): number[] {
  const args = ['-batch', '-nx'];
  for (const e of exprs) args.push('-ex', `print ${e}`);
  const r = spawnSync('gdb-multiarch', [...args, vmlinux], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const values = [...r.stdout.matchAll(/^\$\d+ = (-?\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(values.length, exprs.length, `gdb-multiarch printed:\n${r.stdout}\n${r.stderr}`);
  return values;
}

test(
  "the default guest's vmlinux: task_struct as GDB sees it",
  { timeout: 60 * 60_000 },
  async (t) => {
    if (!needTools(t, 'gdb-multiarch')) return;
    const guest = await ensureDefaultGuest({});
    const file = readFileSync(guest.vmlinux);
    const t0 = performance.now();
    const d = DwarfStructs.read(file);
    assert.ok(
      d,
      `${guest.vmlinux} has no DWARF (CONFIG_DEBUG_INFO_DWARF5 in guests/default/kernel.config)`,
    );
    const t1 = performance.now();
    const pid = d.offsetOf('task_struct', 'pid');
    const t2 = performance.now();
    t.diagnostic(
      `vmlinux ${(file.length / 2 ** 20).toFixed(0)} MiB, ${d.progress.units} units: read ${(t1 - t0).toFixed(0)} ms, ` +
        `task_struct found in ${(t2 - t1).toFixed(0)} ms after indexing ${d.progress.indexed} units`,
    );
    const asked: [string, string][] = [
      ['task_struct', 'pid'],
      ['task_struct', 'tgid'],
      ['task_struct', 'comm'],
      ['task_struct', 'thread.sp'],
      ['task_struct', 'thread_info'],
      ['page', 'mapping'], // inside anonymous unions and structures
      ['page', '_refcount'],
      ['list_head', 'prev'],
    ];
    const sized = ['task_struct', 'page', 'thread_struct'];
    const ours = [
      pid,
      ...asked.slice(1).map(([s, m]) => d.offsetOf(s, m)),
      ...sized.map((s) => d.sizeOf(s)),
    ];
    t.diagnostic(`all lookups: ${(performance.now() - t1).toFixed(0)} ms`);
    const gdb = gdbPrints(guest.vmlinux, [
      ...asked.map(([s, m]) => `(long)&((struct ${s} *)0)->${m}`),
      ...sized.map((s) => `sizeof(struct ${s})`),
    ]);
    assert.deepEqual(ours, gdb);
  },
);
