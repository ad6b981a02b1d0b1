/**
 * Where C structures keep their members, read from an ELF's DWARF: for
 * `vmrs trace`, which must find `pid`, `tgid` and `comm` in a Linux
 * task_struct without guessing. A vmlinux carries tens of MB of
 * .debug_info, so nothing is parsed that a question does not need: the
 * unit headers are walked once, then units are indexed one by one, only
 * their top-level entries and, thanks to DW_AT_sibling, without descending
 * into functions, until the structure asked for turns up as a complete
 * definition. What was found is kept for the next question.
 *
 * DWARF 2 to 5, 32- and 64-bit format, little-endian ELF64 only. The file
 * is the user's and may be anything: every read is bounds-checked, and a
 * file that does not hold together gives a DwarfError saying where.
 */
import * as zlib from 'node:zlib';

/** The ELF's DWARF is malformed, cut short, or in a form this reader does not know. */
export class DwarfError extends Error {
  override name = 'DwarfError';
}

const hex = (n: number): string => `0x${n.toString(16)}`;

// Tags (DWARF5 7.5.4, table 7.3).
const TAG_class_type = 0x02;
const TAG_member = 0x0d;
const TAG_structure_type = 0x13;
const TAG_typedef = 0x16;
const TAG_union_type = 0x17;
/** Tags that only qualify the type they point at: looked through to reach a structure. */
const QUALIFIERS = new Set([
  0x26, // const
  0x2d, // packed
  0x35, // volatile
  0x37, // restrict
  0x40, // shared
  0x47, // atomic
  0x4b, // immutable
  TAG_typedef,
]);

// Attributes (DWARF5 7.5.4, table 7.5).
const AT_sibling = 0x01;
const AT_name = 0x03;
const AT_byte_size = 0x0b;
const AT_bit_offset = 0x0c; // DWARF 2/3 bitfields
const AT_bit_size = 0x0d;
const AT_data_member_location = 0x38;
const AT_declaration = 0x3c;
const AT_type = 0x49;
const AT_data_bit_offset = 0x6b;
const AT_str_offsets_base = 0x72;

// Forms (DWARF5 7.5.6, table 7.6), and the GNU ones a distribution's build may use.
const FORM_addr = 0x01;
const FORM_block2 = 0x03;
const FORM_block4 = 0x04;
const FORM_data2 = 0x05;
const FORM_data4 = 0x06;
const FORM_data8 = 0x07;
const FORM_string = 0x08;
const FORM_block = 0x09;
const FORM_block1 = 0x0a;
const FORM_data1 = 0x0b;
const FORM_flag = 0x0c;
const FORM_sdata = 0x0d;
const FORM_strp = 0x0e;
const FORM_udata = 0x0f;
const FORM_ref_addr = 0x10;
const FORM_ref1 = 0x11;
const FORM_ref2 = 0x12;
const FORM_ref4 = 0x13;
const FORM_ref8 = 0x14;
const FORM_ref_udata = 0x15;
const FORM_indirect = 0x16;
const FORM_sec_offset = 0x17;
const FORM_exprloc = 0x18;
const FORM_flag_present = 0x19;
const FORM_strx = 0x1a;
const FORM_addrx = 0x1b;
const FORM_ref_sup4 = 0x1c;
const FORM_strp_sup = 0x1d;
const FORM_data16 = 0x1e;
const FORM_line_strp = 0x1f;
const FORM_ref_sig8 = 0x20;
const FORM_implicit_const = 0x21;
const FORM_loclistx = 0x22;
const FORM_rnglistx = 0x23;
const FORM_ref_sup8 = 0x24;
const FORM_strx1 = 0x25;
const FORM_strx2 = 0x26;
const FORM_strx3 = 0x27;
const FORM_strx4 = 0x28;
const FORM_addrx1 = 0x29;
const FORM_addrx2 = 0x2a;
const FORM_addrx3 = 0x2b;
const FORM_addrx4 = 0x2c;
const FORM_GNU_addr_index = 0x1f01;
const FORM_GNU_str_index = 0x1f02;
const FORM_GNU_ref_alt = 0x1f20;
const FORM_GNU_strp_alt = 0x1f21;

// Unit types (DWARF5 7.5.1, table 7.2).
const UT_compile = 0x01;
const UT_type = 0x02;
const UT_partial = 0x03;
const UT_skeleton = 0x04;
const UT_split_compile = 0x05;
const UT_split_type = 0x06;

// Location operations used by DWARF 2-style member locations (DWARF5 7.7.1).
const OP_lit0 = 0x30;
const OP_lit31 = 0x4f;
const OP_constu = 0x10;
const OP_plus_uconst = 0x23;

/**
 * Reads one section between `pos` and `end`, every read bounds-checked.
 * `unit` is the offset of the unit being read (-1 outside units): a read
 * past a unit's end inside the section is a different fault from a
 * section that is cut short, and is reported as such.
 */
class Cursor {
  constructor(
    readonly buf: Uint8Array,
    readonly dv: DataView,
    readonly section: string,
    public pos: number,
    public end: number,
    readonly unit = -1,
  ) {}

  cut(): never {
    if (this.end >= this.buf.length || this.unit < 0)
      throw new DwarfError(`${this.section} is cut short at offset ${hex(this.end)}`);
    throw new DwarfError(
      `${this.section}: the unit at ${hex(this.unit)} ends at ${hex(this.end)}, inside an entry`,
    );
  }

  skip(n: number): void {
    if (n > this.end - this.pos) this.cut();
    this.pos += n;
  }

  u8(): number {
    if (this.pos >= this.end) this.cut();
    return this.buf[this.pos++];
  }

  u16(): number {
    if (this.pos + 2 > this.end) this.cut();
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u24(): number {
    if (this.pos + 3 > this.end) this.cut();
    const b = this.buf;
    const p = this.pos;
    this.pos += 3;
    return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
  }

  u32(): number {
    if (this.pos + 4 > this.end) this.cut();
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Exact below 2^53, which every offset into a file in memory is. */
  u64(): number {
    if (this.pos + 8 > this.end) this.cut();
    const v =
      this.dv.getUint32(this.pos + 4, true) * 4294967296 + this.dv.getUint32(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** An offset of the unit's size: 4 bytes in 32-bit DWARF, 8 in 64-bit (DWARF5 7.4). */
  offset(size: number): number {
    return size === 4 ? this.u32() : this.u64();
  }

  uleb(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) this.cut();
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  }

  sleb(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) this.cut();
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return b & 0x40 ? v - mul : v;
    }
  }

  skipLeb(): void {
    const b = this.buf;
    let p = this.pos;
    while (p < this.end && b[p] >= 0x80) p++;
    if (p >= this.end) this.cut();
    this.pos = p + 1;
  }

  /** Past a NUL-terminated string. */
  skipString(): void {
    const i = this.buf.subarray(this.pos, this.end).indexOf(0);
    if (i < 0) this.cut();
    this.pos += i + 1;
  }
}

/** One abbreviation: the shape of the entries that use its code (DWARF5 7.5.3). */
interface Abbrev {
  tag: number;
  children: boolean;
  /**
   * Its attributes are [first, end) of its table's arrays, shared by all
   * the table's abbreviations: a vmlinux has about a million attribute
   * specifications, and an array for each abbreviation costs the time.
   */
  first: number;
  end: number;
  attrs: number[];
  forms: number[];
  /** DW_FORM_implicit_const values (0 for other forms). */
  consts: number[];
  /** The entry's attribute bytes when all its forms have a fixed size, else -1: skipped at once. */
  fixed: number;
}

class AbbrevTable {
  /** Codes are small and dense in practice (1, 2, 3…); others go to the map. */
  readonly dense: (Abbrev | undefined)[] = [];
  readonly sparse = new Map<number, Abbrev>();
  readonly attrs: number[] = [];
  readonly forms: number[] = [];
  readonly consts: number[] = [];

  get(code: number): Abbrev | undefined {
    return code < 65536 ? this.dense[code] : this.sparse.get(code);
  }
}

interface Unit {
  offset: number;
  end: number;
  version: number;
  unitType: number;
  addrSize: number;
  offSize: number;
  abbrevOffset: number;
  /** The first entry (the unit's own DIE). */
  dieStart: number;
  /** For a type unit: the absolute offset of the type it describes. */
  typeDie: number;
  abbrevs?: AbbrevTable;
  /** DW_AT_str_offsets_base of the unit's DIE; -1 until that DIE has been read. */
  strBase: number;
}

/** The attributes of one entry that matter here; NaN/-1 where absent. */
class Die {
  tag = 0;
  children = false;
  nameForm = 0;
  nameValue = 0;
  declaration = false;
  sibling = -1;
  type = -1;
  byteSize = NaN;
  /** NaN: absent; -1: present but not a byte offset this reader can read (a location list, say). */
  memberLocation = NaN;
  bitfield = false;
  strOffsetsBase = NaN;

  reset(ab: Abbrev): void {
    this.tag = ab.tag;
    this.children = ab.children;
    this.nameForm = 0;
    this.nameValue = 0;
    this.declaration = false;
    this.sibling = -1;
    this.type = -1;
    this.byteSize = NaN;
    this.memberLocation = NaN;
    this.bitfield = false;
    this.strOffsetsBase = NaN;
  }
}

interface Member {
  name: string | undefined;
  /** NaN for a member without a byte offset (a bitfield). */
  offset: number;
  type: number;
}

interface Layout {
  size: number | undefined;
  members: Member[];
}

/** A member found: its offset from the start of the structure searched, and its type's DIE. */
interface Found {
  offset: number;
  type: number;
}

/** Bytes of a value of `form`, when fixed for the unit; -1 when it varies (DWARF5 7.5.6). */
function formSize(form: number, u: Unit): number {
  switch (form) {
    case FORM_flag_present:
    case FORM_implicit_const:
      return 0;
    case FORM_data1:
    case FORM_ref1:
    case FORM_flag:
    case FORM_strx1:
    case FORM_addrx1:
      return 1;
    case FORM_data2:
    case FORM_ref2:
    case FORM_strx2:
    case FORM_addrx2:
      return 2;
    case FORM_strx3:
    case FORM_addrx3:
      return 3;
    case FORM_data4:
    case FORM_ref4:
    case FORM_ref_sup4:
    case FORM_strx4:
    case FORM_addrx4:
      return 4;
    case FORM_data8:
    case FORM_ref8:
    case FORM_ref_sig8:
    case FORM_ref_sup8:
      return 8;
    case FORM_data16:
      return 16;
    case FORM_addr:
      return u.addrSize;
    case FORM_strp:
    case FORM_line_strp:
    case FORM_sec_offset:
    case FORM_strp_sup:
    case FORM_GNU_ref_alt:
    case FORM_GNU_strp_alt:
      return u.offSize;
    case FORM_ref_addr:
      // An address in DWARF 2, an offset from DWARF 3 on (DWARF5 7.5.5).
      return u.version <= 2 ? u.addrSize : u.offSize;
    default:
      return -1;
  }
}

/** Past one attribute value of `form`. */
function skipForm(c: Cursor, form: number, u: Unit): void {
  const n = formSize(form, u);
  if (n >= 0) return c.skip(n);
  switch (form) {
    case FORM_string:
      return c.skipString();
    case FORM_block1:
      return c.skip(c.u8());
    case FORM_block2:
      return c.skip(c.u16());
    case FORM_block4:
      return c.skip(c.u32());
    case FORM_block:
    case FORM_exprloc:
      return c.skip(c.uleb());
    case FORM_sdata:
    case FORM_udata:
    case FORM_ref_udata:
    case FORM_strx:
    case FORM_addrx:
    case FORM_loclistx:
    case FORM_rnglistx:
    case FORM_GNU_addr_index:
    case FORM_GNU_str_index:
      return c.skipLeb();
    case FORM_indirect:
      return skipForm(c, indirectForm(c), u);
    default:
      throw new DwarfError(
        `.debug_info: the unit at ${hex(u.offset)} uses attribute form ${hex(form)}, which is not a DWARF form`,
      );
  }
}

/**
 * The form an indirect value names (DWARF5 7.5.3). An implicit constant
 * has its value in the abbreviation, which an indirect form has not, and
 * an indirect form naming another would let a file nest without end.
 */
function indirectForm(c: Cursor): number {
  const at = c.pos;
  const form = c.uleb();
  if (form === FORM_indirect || form === FORM_implicit_const)
    throw new DwarfError(`.debug_info: DW_FORM_indirect at ${hex(at)} names form ${hex(form)}`);
  return form;
}

/**
 * The byte offset a DW_AT_data_member_location expression gives: DWARF 2
 * producers write `DW_OP_plus_uconst N` (DWARF5 5.7.6: the member's address
 * is computed from the structure's, pushed first). -1 for anything else.
 */
function memberExpression(c: Cursor, len: number): number {
  if (len > c.end - c.pos) c.cut();
  const end = c.pos + len;
  const e = new Cursor(c.buf, c.dv, c.section, c.pos, end, c.unit);
  c.pos = end;
  if (len === 0) return -1;
  const op = e.u8();
  let v = -1;
  if (op === OP_plus_uconst || op === OP_constu) {
    // Its operand must end inside the expression, whose end is not the unit's.
    if (e.pos < end && c.buf[end - 1] < 0x80) v = e.uleb();
  } else if (op >= OP_lit0 && op <= OP_lit31) v = op - OP_lit0;
  return e.pos === end ? v : -1; // more than one operation: not a plain offset
}

interface SectionHeader {
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  /** For a relocation section: the section it applies to. */
  info: number;
}

const SHT_NOBITS = 8;
const SHT_RELA = 4;
const SHT_REL = 9;
const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;

/** The sections of a little-endian ELF64 (its section header table and names). */
function elfSections(elf: Uint8Array): { headers: SectionHeader[]; relocatable: boolean } {
  const isElf = elf.length >= 4 && elf[0] === 0x7f && elf[1] === 0x45 && elf[2] === 0x4c;
  if (!isElf || elf[3] !== 0x46) throw new DwarfError('not an ELF file');
  if (elf.length < 64)
    throw new DwarfError(`the ELF header is cut short at offset ${hex(elf.length)}`);
  if (elf[4] !== 2 || elf[5] !== 1)
    throw new DwarfError('not a little-endian ELF64 file, the only kind this DWARF reader reads');
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const c = new Cursor(elf, dv, 'the ELF file', 0, elf.length);
  const u64 = (o: number): number => ((c.pos = o), c.u64());
  const type = dv.getUint16(16, true);
  const shoff = u64(40);
  const shentsize = dv.getUint16(58, true);
  let shnum = dv.getUint16(60, true);
  let shstrndx = dv.getUint16(62, true);
  if (shoff === 0) return { headers: [], relocatable: type === 1 };
  if (shentsize < 64)
    throw new DwarfError(`ELF section headers of ${shentsize} bytes are too small`);
  const table = new Cursor(elf, dv, 'the ELF section header table', shoff, elf.length);
  // Extended numbering (ELF gABI): more than 0xff00 sections, or names in a high section.
  if (shnum === 0 || shstrndx === 0xffff) {
    table.pos = shoff + 32;
    const size0 = table.u64();
    const link0 = table.u32();
    if (shnum === 0) shnum = size0;
    if (shstrndx === 0xffff) shstrndx = link0;
  }
  if (shnum > (elf.length - shoff) / shentsize)
    throw new DwarfError(
      `the ELF file is cut short at offset ${hex(elf.length)}: its ${shnum} section headers do not fit`,
    );
  const raw: SectionHeader[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    nameOffsets.push(dv.getUint32(h, true));
    raw.push({
      name: '',
      type: dv.getUint32(h + 4, true),
      flags: dv.getUint32(h + 8, true),
      offset: u64(h + 24),
      size: u64(h + 32),
      info: dv.getUint32(h + 44, true),
    });
  }
  const strtab = raw[shstrndx];
  if (strtab && strtab.type !== SHT_NOBITS) {
    checkInFile(elf, strtab, 'the section name table');
    const dec = new TextDecoder();
    const end = strtab.offset + strtab.size;
    raw.forEach((s, i) => {
      const at = strtab.offset + nameOffsets[i];
      if (at >= end) return;
      const len = elf.subarray(at, end).indexOf(0);
      s.name = dec.decode(elf.subarray(at, len < 0 ? end : at + len));
    });
  }
  return { headers: raw, relocatable: type === 1 };
}

function checkInFile(elf: Uint8Array, s: SectionHeader, what: string): void {
  if (s.type === SHT_NOBITS) return;
  if (s.offset > elf.length || s.size > elf.length - s.offset)
    throw new DwarfError(
      `the ELF file is cut short at offset ${hex(elf.length)}: ${what} lies at ${hex(s.offset)}..${hex(s.offset + s.size)}`,
    );
}

/** The bytes of a section, inflated if compressed (gABI SHF_COMPRESSED, or GNU .zdebug_*). */
function sectionBytes(elf: Uint8Array, s: SectionHeader): Uint8Array {
  checkInFile(elf, s, `section ${s.name}`);
  if (s.type === SHT_NOBITS) return new Uint8Array(0);
  const data = elf.subarray(s.offset, s.offset + s.size);
  if (s.flags & SHF_COMPRESSED) {
    // Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign.
    if (data.length < 24) throw new DwarfError(`${s.name}: its compression header is cut short`);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const kind = dv.getUint32(0, true);
    const size = dv.getUint32(12, true) * 4294967296 + dv.getUint32(8, true);
    return inflate(s.name, data.subarray(24), size, kind);
  }
  if (s.name.startsWith('.zdebug_')) {
    // "ZLIB", then the size as 8 bytes big-endian, then the zlib stream.
    const magic = data.length >= 12 && String.fromCharCode(...data.subarray(0, 4)) === 'ZLIB';
    if (!magic) throw new DwarfError(`${s.name} does not start with "ZLIB"`);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const size = dv.getUint32(4, false) * 4294967296 + dv.getUint32(8, false);
    return inflate(s.name, data.subarray(12), size, ELFCOMPRESS_ZLIB);
  }
  return data;
}

function inflate(name: string, data: Uint8Array, size: number, kind: number): Uint8Array {
  // Node 20 has no zstd; later Nodes do.
  const zstd = (zlib as unknown as { zstdDecompressSync?: typeof zlib.inflateSync })
    .zstdDecompressSync;
  if (kind !== ELFCOMPRESS_ZLIB && !(kind === ELFCOMPRESS_ZSTD && zstd))
    throw new DwarfError(
      kind === ELFCOMPRESS_ZSTD
        ? `${name} is compressed with zstd, which this Node cannot inflate`
        : `${name} is compressed with unknown method ${kind}`,
    );
  let out: Uint8Array;
  try {
    // The size bounds the output: a bad header cannot make it inflate without end.
    const opts = { maxOutputLength: Math.max(1, Math.min(size, 2 ** 31 - 1)) };
    out = kind === ELFCOMPRESS_ZLIB ? zlib.inflateSync(data, opts) : zstd!(data, opts);
  } catch (e) {
    throw new DwarfError(`${name}: cannot inflate it (${(e as Error).message})`);
  }
  if (out.length !== size)
    throw new DwarfError(`${name}: inflates to ${out.length} bytes, its header says ${size}`);
  return out;
}

/** The DWARF sections read; each is inflated on first use. */
const SECTIONS = [
  '.debug_info',
  '.debug_abbrev',
  '.debug_str',
  '.debug_line_str',
  '.debug_str_offsets',
] as const;
type SectionName = (typeof SECTIONS)[number];

/** Byte offsets of members of C structs, from an ELF's DWARF (.debug_info/.debug_abbrev/.debug_str/.debug_line_str/.debug_str_offsets as needed). */
export class DwarfStructs {
  private readonly info: Uint8Array;
  private readonly infoView: DataView;
  private readonly loaded = new Map<SectionName, { bytes: Uint8Array; dv: DataView }>();
  /** Complete structure definitions by name, from the units indexed so far. */
  private readonly structs = new Map<string, number>();
  /** Units [0, indexed) have been indexed. */
  private indexed = 0;
  private readonly layouts = new Map<number, Layout>();
  private readonly abbrevTables = new Map<string, AbbrevTable>();
  private readonly strings = new Map<number, string>();
  private readonly lineStrings = new Map<number, string>();
  private readonly decoder = new TextDecoder();
  private readonly scratch = new Die();
  private typeUnits: Map<bigint, number> | undefined;

  private constructor(
    private readonly elf: Uint8Array,
    private readonly headers: Map<string, SectionHeader>,
    info: Uint8Array,
    private readonly units: Unit[],
  ) {
    this.info = info;
    this.infoView = new DataView(info.buffer, info.byteOffset, info.byteLength);
  }

  /** undefined when the file has no DWARF (no .debug_info) — not an error; throws DwarfError with a clear message on malformed data. */
  static read(elf: Uint8Array): DwarfStructs | undefined {
    const { headers, relocatable } = elfSections(elf);
    const byName = new Map<string, SectionHeader>();
    for (const s of headers) {
      const name = s.name.startsWith('.zdebug_') ? `.debug_${s.name.slice(8)}` : s.name;
      if ((SECTIONS as readonly string[]).includes(name) && !byName.has(name)) byName.set(name, s);
    }
    const infoHeader = byName.get('.debug_info');
    if (!infoHeader || infoHeader.type === SHT_NOBITS || infoHeader.size === 0) return undefined;
    if (!byName.has('.debug_abbrev'))
      throw new DwarfError('the file has .debug_info but no .debug_abbrev');
    if (relocatable) {
      // An object file's DWARF holds offsets only its relocations complete.
      const debug = new Set([...byName.values()].map((s) => headers.indexOf(s)));
      const rel = headers.some(
        (s) => (s.type === SHT_RELA || s.type === SHT_REL) && debug.has(s.info),
      );
      if (rel)
        throw new DwarfError(
          'a relocatable object: its DWARF needs relocations this reader does not apply',
        );
    }
    const info = sectionBytes(elf, infoHeader);
    return new DwarfStructs(elf, byName, info, readUnits(info));
  }

  /** Offset of `member` in `struct name` (members of anonymous struct/union members are found too, offsets added); path with dots allowed e.g. 'thread.sp'. undefined if no complete definition of that struct or no such member. */
  offsetOf(struct: string, member: string): number | undefined {
    const die = this.findStruct(struct);
    if (die === undefined) return undefined;
    let layout = this.layout(die);
    let offset = 0;
    const path = member.split('.');
    for (let i = 0; i < path.length; i++) {
      const found = this.member(layout, path[i]);
      if (!found || Number.isNaN(found.offset)) return undefined;
      offset += found.offset;
      if (i === path.length - 1) return offset;
      const inner = this.aggregate(found.type);
      if (!inner) return undefined;
      layout = inner;
    }
    return undefined;
  }

  /** The struct's byte size. */
  sizeOf(struct: string): number | undefined {
    const die = this.findStruct(struct);
    return die === undefined ? undefined : this.layout(die).size;
  }

  /** How many units .debug_info holds, and how many have been indexed so far (for tests and timings). */
  get progress(): { units: number; indexed: number } {
    return { units: this.units.length, indexed: this.indexed };
  }

  /** The DIE offset of the first complete definition of `struct name`, indexing units until one is found. */
  private findStruct(name: string): number | undefined {
    for (;;) {
      const die = this.structs.get(name);
      if (die !== undefined || this.indexed >= this.units.length) return die;
      this.indexUnit(this.units[this.indexed]);
      // Counted only once indexed whole: a unit that throws throws again when asked again.
      this.indexed++;
    }
  }

  /**
   * Records the complete structure definitions among a unit's top-level
   * entries. Other entries with children are jumped over by their
   * DW_AT_sibling (DWARF5 2.3) when they have one, so a function's body
   * is not read; without it their children are walked.
   */
  private indexUnit(u: Unit): void {
    const abbrevs = this.abbrevs(u);
    const c = new Cursor(this.info, this.infoView, '.debug_info', u.dieStart, u.end, u.offset);
    const d = this.scratch;
    let depth = 0;
    while (c.pos < u.end) {
      const at = c.pos;
      const code = c.uleb();
      if (code === 0) {
        // A null entry ends a list of siblings (DWARF5 7.5.2); at the top, it is padding.
        if (--depth <= 0) return;
        continue;
      }
      const ab = abbrevs.get(code) ?? this.noAbbrev(u, code, at);
      if (depth === 0) {
        this.readAttrs(c, ab, u, d);
        if (u.strBase < 0) u.strBase = this.strBaseOf(u, d);
        if (!ab.children) return;
        depth = 1;
        continue;
      }
      if (depth === 1 && ab.tag === TAG_structure_type) {
        this.readAttrs(c, ab, u, d);
        if (!d.declaration && (ab.children || !Number.isNaN(d.byteSize))) {
          const name = this.nameOf(d, u);
          if (name !== undefined && !this.structs.has(name)) this.structs.set(name, at);
        }
      } else if (!ab.children) {
        if (ab.fixed >= 0) c.skip(ab.fixed);
        else this.skipAttrs(c, ab, u);
        continue;
      } else this.readAttrs(c, ab, u, d);
      if (!ab.children) continue;
      if (d.sibling > c.pos && d.sibling <= u.end) c.pos = d.sibling;
      else depth++;
    }
  }

  private noAbbrev(u: Unit, code: number, at: number): never {
    throw new DwarfError(
      `.debug_info: the entry at ${hex(at)} has abbreviation code ${code}, which the unit at ${hex(u.offset)} does not define`,
    );
  }

  /** The members of the structure or union whose DIE is at `die`, read once. */
  private layout(die: number): Layout {
    let layout = this.layouts.get(die);
    if (layout) return layout;
    const u = this.unitAt(die);
    const abbrevs = this.abbrevs(u);
    const c = new Cursor(this.info, this.infoView, '.debug_info', die, u.end, u.offset);
    const d = new Die();
    const topCode = c.uleb();
    const top = abbrevs.get(topCode) ?? this.noAbbrev(u, topCode, die);
    this.readAttrs(c, top, u, d);
    layout = { size: Number.isNaN(d.byteSize) ? undefined : d.byteSize, members: [] };
    let depth = top.children ? 1 : 0;
    while (depth > 0 && c.pos < u.end) {
      const at = c.pos;
      const code = c.uleb();
      if (code === 0) {
        depth--;
        continue;
      }
      const ab = abbrevs.get(code) ?? this.noAbbrev(u, code, at);
      this.readAttrs(c, ab, u, d);
      if (depth === 1 && ab.tag === TAG_member) {
        const loc = d.memberLocation;
        // Without a location the member starts where its container does (DWARF5 5.7.6).
        const offset = d.bitfield || loc < 0 ? NaN : Number.isNaN(loc) ? 0 : loc;
        layout.members.push({ name: this.nameOf(d, u), offset, type: d.type });
      }
      if (ab.children) depth++;
    }
    this.layouts.set(die, layout);
    return layout;
  }

  /**
   * `name` among a layout's members, or among the members of its
   * anonymous structure and union members (C11 6.7.2.1), which the
   * containing structure's own members are searched before. Each layout is
   * searched once per question (`memo`), so a malformed file whose types
   * contain themselves, or each other many times over, ends quickly; and
   * no C program nests anonymous members 64 deep, so neither is that
   * followed further.
   */
  private member(
    layout: Layout,
    name: string,
    memo = new Map<Layout, Found | null>(),
    depth = 0,
  ): Found | undefined {
    const known = memo.get(layout);
    if (known !== undefined) return known ?? undefined;
    if (depth > 64) return undefined;
    memo.set(layout, null); // while searched: a type inside itself has nothing more to give
    let found: Found | undefined;
    for (const m of layout.members)
      if (m.name === name) {
        found = { offset: m.offset, type: m.type };
        break;
      }
    if (!found)
      for (const m of layout.members) {
        if (m.name !== undefined || Number.isNaN(m.offset)) continue;
        const inner = this.aggregate(m.type);
        const hit = inner && this.member(inner, name, memo, depth + 1);
        if (hit) {
          found = { offset: m.offset + hit.offset, type: hit.type };
          break;
        }
      }
    memo.set(layout, found ?? null);
    return found;
  }

  /** The structure or union a type DIE names, through typedefs and qualifiers; a declaration's definition is looked up by name. */
  private aggregate(type: number): Layout | undefined {
    const d = new Die();
    for (let hops = 0; hops < 64 && type >= 0; hops++) {
      const u = this.unitAt(type);
      if (!u || type < u.dieStart) return undefined;
      const c = new Cursor(this.info, this.infoView, '.debug_info', type, u.end, u.offset);
      const code = c.uleb();
      const ab = this.abbrevs(u).get(code) ?? this.noAbbrev(u, code, type);
      this.readAttrs(c, ab, u, d);
      if (QUALIFIERS.has(ab.tag)) {
        type = d.type;
        continue;
      }
      if (ab.tag !== TAG_structure_type && ab.tag !== TAG_union_type && ab.tag !== TAG_class_type)
        return undefined;
      if (!d.declaration) return this.layout(type);
      const name = this.nameOf(d, u);
      const def =
        ab.tag === TAG_structure_type && name !== undefined ? this.findStruct(name) : undefined;
      return def === undefined ? undefined : this.layout(def);
    }
    return undefined;
  }

  private skipAttrs(c: Cursor, ab: Abbrev, u: Unit): void {
    const forms = ab.forms;
    for (let i = ab.first; i < ab.end; i++) skipForm(c, forms[i], u);
  }

  /** Reads an entry's attributes into `d`, keeping those this reader uses. */
  private readAttrs(c: Cursor, ab: Abbrev, u: Unit, d: Die): void {
    d.reset(ab);
    const { attrs, forms, consts } = ab;
    for (let i = ab.first; i < ab.end; i++) {
      let form = forms[i];
      if (form === FORM_indirect) form = indirectForm(c);
      switch (attrs[i]) {
        case AT_name:
          d.nameForm = form;
          d.nameValue = form === FORM_string ? c.pos : this.constant(c, form, u, consts[i]);
          if (form === FORM_string) c.skipString();
          break;
        case AT_sibling:
          d.sibling = this.ref(c, form, u);
          break;
        case AT_type:
          d.type = this.ref(c, form, u);
          break;
        case AT_declaration:
          d.declaration = this.constant(c, form, u, consts[i]) > 0;
          break;
        case AT_byte_size:
          d.byteSize = this.constant(c, form, u, consts[i]);
          break;
        case AT_data_member_location:
          d.memberLocation = this.location(c, form, u, consts[i]);
          break;
        case AT_bit_size:
        case AT_bit_offset:
        case AT_data_bit_offset:
          d.bitfield = true;
          skipForm(c, form, u);
          break;
        case AT_str_offsets_base:
          d.strOffsetsBase = this.constant(c, form, u, consts[i]);
          break;
        default:
          skipForm(c, form, u);
      }
    }
  }

  /** A value of constant, flag, offset or string-index class; NaN (after skipping it) for other forms. */
  private constant(c: Cursor, form: number, u: Unit, implicit: number): number {
    switch (form) {
      case FORM_data1:
      case FORM_flag:
      case FORM_strx1:
        return c.u8();
      case FORM_data2:
      case FORM_strx2:
        return c.u16();
      case FORM_strx3:
        return c.u24();
      case FORM_data4:
      case FORM_strx4:
        return c.u32();
      case FORM_data8:
        return c.u64();
      case FORM_udata:
      case FORM_strx:
      case FORM_GNU_str_index:
        return c.uleb();
      case FORM_sdata:
        return c.sleb();
      case FORM_flag_present:
        return 1;
      case FORM_implicit_const:
        // The value lives in the abbreviation (DWARF5 7.5.3).
        return implicit;
      case FORM_strp:
      case FORM_line_strp:
      case FORM_sec_offset:
        return c.offset(u.offSize);
      default:
        skipForm(c, form, u);
        return NaN;
    }
  }

  /**
   * A DW_AT_data_member_location: a constant from DWARF 4 on, an expression
   * before (DWARF5 5.7.6); in DWARF 3, data4/data8 are location lists.
   */
  private location(c: Cursor, form: number, u: Unit, implicit: number): number {
    switch (form) {
      case FORM_exprloc:
      case FORM_block:
        return memberExpression(c, c.uleb());
      case FORM_block1:
        return memberExpression(c, c.u8());
      case FORM_block2:
        return memberExpression(c, c.u16());
      case FORM_block4:
        return memberExpression(c, c.u32());
      case FORM_data4:
      case FORM_data8:
        if (u.version === 3) {
          skipForm(c, form, u);
          return -1;
        }
    }
    const v = this.constant(c, form, u, implicit);
    return Number.isNaN(v) || v < 0 ? -1 : v;
  }

  /** The absolute .debug_info offset a reference points at; -1 when it points outside (another file, an unknown type unit). */
  private ref(c: Cursor, form: number, u: Unit): number {
    switch (form) {
      // Unit-relative: from the first byte of the unit's header (DWARF5 7.5.5).
      case FORM_ref1:
        return u.offset + c.u8();
      case FORM_ref2:
        return u.offset + c.u16();
      case FORM_ref4:
        return u.offset + c.u32();
      case FORM_ref8:
        return u.offset + c.u64();
      case FORM_ref_udata:
        return u.offset + c.uleb();
      case FORM_ref_addr:
        return u.version <= 2 ? (u.addrSize === 8 ? c.u64() : c.u32()) : c.offset(u.offSize);
      case FORM_ref_sig8: {
        const lo = BigInt(c.u32());
        const hi = BigInt(c.u32());
        return this.typeUnit((hi << 32n) | lo);
      }
      default:
        skipForm(c, form, u);
        return -1;
    }
  }

  /** The type a DWARF 5 type unit with this signature describes (DWARF5 3.1.4). */
  private typeUnit(signature: bigint): number {
    if (!this.typeUnits) {
      this.typeUnits = new Map();
      for (const u of this.units)
        if (u.typeDie >= 0) this.typeUnits.set(this.signatureOf(u), u.typeDie);
    }
    return this.typeUnits.get(signature) ?? -1;
  }

  private signatureOf(u: Unit): bigint {
    // The signature follows the abbreviation offset in a type unit's header (DWARF5 7.5.1.2).
    const at = u.dieStart - 8 - u.offSize;
    return (
      (BigInt(this.infoView.getUint32(at + 4, true)) << 32n) |
      BigInt(this.infoView.getUint32(at, true))
    );
  }

  /** A name attribute's text; undefined when it lives in a file this reader does not have. */
  private nameOf(d: Die, u: Unit): string | undefined {
    const v = d.nameValue;
    switch (d.nameForm) {
      case 0:
        return undefined;
      case FORM_string: {
        const end = this.info.subarray(v, u.end).indexOf(0);
        return this.decoder.decode(this.info.subarray(v, v + end));
      }
      case FORM_strp:
        return this.string('.debug_str', this.strings, v);
      case FORM_line_strp:
        return this.string('.debug_line_str', this.lineStrings, v);
      case FORM_strx:
      case FORM_strx1:
      case FORM_strx2:
      case FORM_strx3:
      case FORM_strx4:
      case FORM_GNU_str_index: {
        // An index into the unit's slice of .debug_str_offsets (DWARF5 7.26).
        if (u.strBase < 0) u.strBase = this.strBaseOf(u);
        const sec = this.section('.debug_str_offsets');
        const at = u.strBase + v * u.offSize;
        const c = new Cursor(sec.bytes, sec.dv, '.debug_str_offsets', at, sec.bytes.length);
        return this.string('.debug_str', this.strings, c.offset(u.offSize));
      }
      default:
        return undefined; // DW_FORM_strp_sup, DW_FORM_GNU_strp_alt: in a supplementary file
    }
  }

  /**
   * Where a unit's string offsets start: its DW_AT_str_offsets_base, or,
   * in a unit without one (GCC before 11 with -gsplit-dwarf), just past
   * the table's header (DWARF5 7.26: 8 bytes in 32-bit DWARF, 16 in 64-bit).
   */
  private strBaseOf(u: Unit, unitDie?: Die): number {
    let d = unitDie;
    if (!d) {
      d = new Die();
      const c = new Cursor(this.info, this.infoView, '.debug_info', u.dieStart, u.end, u.offset);
      const code = c.uleb();
      if (code !== 0)
        this.readAttrs(c, this.abbrevs(u).get(code) ?? this.noAbbrev(u, code, u.dieStart), u, d);
    }
    return Number.isNaN(d.strOffsetsBase) ? (u.offSize === 4 ? 8 : 16) : d.strOffsetsBase;
  }

  private string(name: SectionName, cache: Map<number, string>, at: number): string {
    let s = cache.get(at);
    if (s !== undefined) return s;
    const { bytes } = this.section(name);
    if (at >= bytes.length)
      throw new DwarfError(
        `${name} is cut short at offset ${hex(bytes.length)}: a name lies at ${hex(at)}`,
      );
    const len = bytes.subarray(at).indexOf(0);
    if (len < 0)
      throw new DwarfError(`${name} is cut short at offset ${hex(bytes.length)}, inside a name`);
    s = this.decoder.decode(bytes.subarray(at, at + len));
    cache.set(at, s);
    return s;
  }

  private section(name: SectionName): { bytes: Uint8Array; dv: DataView } {
    let s = this.loaded.get(name);
    if (!s) {
      const h = this.headers.get(name);
      if (!h) throw new DwarfError(`the DWARF refers to ${name}, which the file does not have`);
      const bytes = sectionBytes(this.elf, h);
      s = { bytes, dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
      this.loaded.set(name, s);
    }
    return s;
  }

  /** The unit holding .debug_info offset `at`. */
  private unitAt(at: number): Unit {
    const us = this.units;
    let a = 0;
    let b = us.length - 1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (us[m].offset <= at) a = m;
      else b = m - 1;
    }
    const u = us[a];
    if (at < u.offset || at >= u.end)
      throw new DwarfError(`.debug_info: a reference to ${hex(at)} points outside every unit`);
    return u;
  }

  /** A unit's abbreviation table (DWARF5 7.5.3), parsed once per offset and unit shape. */
  private abbrevs(u: Unit): AbbrevTable {
    if (u.abbrevs) return u.abbrevs;
    const key = `${u.abbrevOffset}/${u.addrSize}/${u.offSize}/${u.version <= 2 ? 2 : 3}`;
    let t = this.abbrevTables.get(key);
    if (!t) {
      t = this.parseAbbrevs(u);
      this.abbrevTables.set(key, t);
    }
    u.abbrevs = t;
    return t;
  }

  private parseAbbrevs(u: Unit): AbbrevTable {
    const { bytes, dv } = this.section('.debug_abbrev');
    if (u.abbrevOffset >= bytes.length)
      throw new DwarfError(
        `.debug_abbrev is cut short at offset ${hex(bytes.length)}: the unit at ${hex(u.offset)} has its abbreviations at ${hex(u.abbrevOffset)}`,
      );
    const c = new Cursor(bytes, dv, '.debug_abbrev', u.abbrevOffset, bytes.length);
    const t = new AbbrevTable();
    const { attrs, forms, consts } = t;
    for (;;) {
      const code = c.uleb();
      if (code === 0) return t;
      const tag = c.uleb();
      const children = c.u8() !== 0;
      const first = attrs.length;
      let fixed = 0;
      for (;;) {
        const at = c.uleb();
        const form = c.uleb();
        if (at === 0 && form === 0) break;
        attrs.push(at);
        forms.push(form);
        consts.push(form === FORM_implicit_const ? c.sleb() : 0);
        const n = formSize(form, u);
        fixed = fixed < 0 || n < 0 ? -1 : fixed + n;
      }
      const ab: Abbrev = {
        tag,
        children,
        first,
        end: attrs.length,
        attrs,
        forms,
        consts,
        fixed,
      };
      if (t.get(code))
        throw new DwarfError(
          `.debug_abbrev: the table at ${hex(u.abbrevOffset)} defines code ${code} twice`,
        );
      if (code < 65536) t.dense[code] = ab;
      else t.sparse.set(code, ab);
    }
  }
}

/**
 * The unit headers of .debug_info, in order (DWARF5 7.5.1.1 and 7.5.1.2;
 * DWARF 2-4 have no unit type, and the address size after the abbreviation
 * offset). The initial length says 32- or 64-bit format (DWARF5 7.4).
 */
function readUnits(info: Uint8Array): Unit[] {
  const dv = new DataView(info.buffer, info.byteOffset, info.byteLength);
  const units: Unit[] = [];
  const c = new Cursor(info, dv, '.debug_info', 0, info.length);
  while (c.pos < info.length) {
    const offset = c.pos;
    c.end = info.length;
    let length = c.u32();
    let offSize = 4;
    if (length === 0xffffffff) {
      length = c.u64();
      offSize = 8;
    } else if (length >= 0xfffffff0)
      throw new DwarfError(
        `.debug_info: the unit at ${hex(offset)} has reserved initial length ${hex(length)} (DWARF5 7.4)`,
      );
    if (length > info.length - c.pos)
      throw new DwarfError(
        `.debug_info is cut short at offset ${hex(info.length)}: the unit at ${hex(offset)} runs to ${hex(c.pos + length)}`,
      );
    const end = c.pos + length;
    const u = new Cursor(info, dv, '.debug_info', c.pos, end, offset);
    const version = u.u16();
    if (version < 2 || version > 5)
      throw new DwarfError(
        `.debug_info: the unit at ${hex(offset)} is DWARF version ${version}; this reader knows 2 to 5`,
      );
    let unitType = UT_compile;
    let addrSize: number;
    let abbrevOffset: number;
    let typeDie = -1;
    if (version === 5) {
      unitType = u.u8();
      addrSize = u.u8();
      abbrevOffset = u.offset(offSize);
      if (unitType === UT_type || unitType === UT_split_type) {
        u.skip(8); // type_signature
        typeDie = offset + u.offset(offSize);
      } else if (unitType === UT_skeleton || unitType === UT_split_compile)
        u.skip(8); // dwo_id
      else if (unitType !== UT_compile && unitType !== UT_partial)
        throw new DwarfError(
          `.debug_info: the unit at ${hex(offset)} has unit type ${hex(unitType)}, which DWARF 5 does not define`,
        );
    } else {
      abbrevOffset = u.offset(offSize);
      addrSize = u.u8();
    }
    if (addrSize !== 2 && addrSize !== 4 && addrSize !== 8)
      throw new DwarfError(`.debug_info: the unit at ${hex(offset)} has address size ${addrSize}`);
    units.push({
      offset,
      end,
      version,
      unitType,
      addrSize,
      offSize,
      abbrevOffset,
      dieStart: u.pos,
      typeDie: typeDie >= offset && typeDie < end ? typeDie : -1,
      strBase: -1,
    });
    c.pos = end;
  }
  return units;
}
