import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRvcTable, expandCompressed, rvcTable, rvcTableFrom } from '../../src/cpu/rvc.js';
import { RVC_TABLE_GLOBAL } from '../../src/cpu/rvc-handover.js';

/** Compressed encodings and the 32-bit instructions they expand to (both from riscv64-linux-gnu-as). */
const CASES: [number, number, string][] = [
  [0x0000, 0, 'the all-zero halfword is illegal (RVC spec 16.5)'],
  [0x4501, 0x00000513, 'c.li a0,0'],
  [0x0785, 0x00178793, 'c.addi a5,1'],
  [0x1141, 0xff010113, 'c.addi sp,-16'],
  [0x7139, 0xfc010113, 'c.addi16sp sp,-64'],
  [0x850a, 0x00200533, 'c.mv a0,sp'],
  [0x8082, 0x00008067, 'c.jr ra'],
  [0x9782, 0x000780e7, 'c.jalr a5'],
  [0xe406, 0x00113423, 'c.sdsp ra,8(sp)'],
  [0x60a2, 0x00813083, 'c.ldsp ra,8(sp)'],
  [0x630c, 0x00073583, 'c.ld a1,0(a4)'],
  [0xe310, 0x00c73023, 'c.sd a2,0(a4)'],
  [0x4398, 0x0007a703, 'c.lw a4,0(a5)'],
  [0x1842, 0x03081813, 'c.slli a6,0x30'],
  [0x8785, 0x4017d793, 'c.srai a5,1'],
  [0x8b85, 0x0017f793, 'c.andi a5,1'],
  [0x8d1d, 0x40f50533, 'c.sub a0,a5'],
  [0x9d3d, 0x00f5053b, 'c.addw a0,a5'],
  [0x2785, 0x0017879b, 'c.addiw a5,1'],
  [0xcb8d, 0x02078963, 'c.beqz a5,.+50'],
  [0xfef9, 0xfc069fe3, 'c.bnez a3,.-34'],
  [0xb7c1, 0xfc1ff06f, 'c.j .-64'],
  [0x9002, 0x00100073, 'c.ebreak'],
  [0x0808, 0x01010513, 'c.addi4spn a0,sp,16'],
  [0x6505, 0x00001537, 'c.lui a0,0x1'],
  [0x2000, 0x00043407, 'c.fld fs0,0(s0)'],
  [0x6000, 0x00043403, 'c.ld s0,0(s0)'],
];

test('compressed expansion matches the spec tables', () => {
  for (const [c, want, what] of CASES) {
    assert.equal(expandCompressed(c) >>> 0, want >>> 0, what);
    assert.equal(rvcTable[c] >>> 0, want >>> 0, `table: ${what}`);
  }
});

test('reserved encodings are illegal', () => {
  // c.addi4spn with nzuimm=0, c.lui/c.addi16sp with imm=0, c.jr x0, c.lwsp/c.ldsp rd=0
  for (const c of [0x0004, 0x6081, 0x6101, 0x8002, 0x4002, 0x6002])
    assert.equal(rvcTable[c], 0, c.toString(16));
});

test('the table covers only 16-bit encodings (low bits != 11)', () => {
  for (let c = 3; c < 65536; c += 4) assert.equal(rvcTable[c], 0);
});

test('a table handed over by the loader is used only when it agrees with the expander', () => {
  const computed = computeRvcTable();
  for (let c = 0; c < 65536; c++)
    assert.equal(computed[c], (c & 3) !== 3 ? expandCompressed(c) | 0 : 0, c.toString(16));
  assert.deepEqual(rvcTable, computed);
  // This process's table is where the loader would keep it from.
  assert.equal((globalThis as Record<string, unknown>)[RVC_TABLE_GLOBAL], rvcTable);

  const good = computed.slice();
  assert.equal(rvcTableFrom(good), good, 'a whole, right table is taken as it is');
  // A table from other code: an expansion differs (entry 251 * 7 is checked).
  const other = computed.slice();
  other[251 * 7] ^= 1 << 20;
  const fromOther = rvcTableFrom(other);
  assert.notEqual(fromOther, other);
  assert.deepEqual(fromOther, computed);
  // Anything else: computed.
  for (const bad of [undefined, null, 7, new Int32Array(100), new Uint32Array(65536), {}])
    assert.deepEqual(rvcTableFrom(bad), computed);
});
