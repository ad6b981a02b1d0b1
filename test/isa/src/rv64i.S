#include "harness.h"
/* RV64I: ALU (register, immediate, W forms), shifts at the edges, LUI/AUIPC,
   branches, JAL/JALR, loads/stores of every width, misaligned accesses (done in
   hardware by vmrs). */
TEST_BEGIN
  TEST_RR(2, add, 0x0000000100000000, 0xffffffff, 1)
  TEST_RR(3, add, 0, -1, 1)
  TEST_RR(4, sub, -1, 0, 1)
  TEST_RR(5, sub, 0xffffffff, 0x100000000, 1)
  TEST_RR(6, addw, 0xffffffff80000000, 0x7fffffff, 1)
  TEST_RR(7, subw, 0x7fffffff, 0x80000000, 1)
  TEST_RR(8, sll, 0x8000000000000000, 1, 63)
  TEST_RR(9, sll, 0x100000000, 1, 32)
  TEST_RR(10, sll, 1, 1, 64)            /* only 6 bits of the shift amount */
  TEST_RR(11, srl, 1, 0x8000000000000000, 63)
  TEST_RR(12, sra, -1, 0x8000000000000000, 63)
  TEST_RR(13, sra, 0xffffffff80000000, 0x8000000000000000, 32)
  TEST_RR(14, srl, 0x80000000, 0x8000000000000000, 32)
  TEST_RR(15, sllw, 0xffffffff80000000, 1, 31)
  TEST_RR(16, srlw, 1, 0x80000000, 31)
  TEST_RR(17, sraw, -1, 0x80000000, 31)
  TEST_RR(18, sllw, 1, 1, 32)           /* W shifts use 5 bits */
  TEST_RR(19, slt, 1, -1, 0)
  TEST_RR(20, sltu, 0, -1, 0)
  TEST_RR(21, slt, 0, 0x100000000, 0xffffffff)
  TEST_RR(22, sltu, 1, 0xffffffff, 0x100000000)
  TEST_RR(23, xor, 0xff00ff00ff00ff00, 0xffffffff00000000, 0x00ff00ffff00ff00)
  TEST_RR(24, or, 0xffffffffff00ff00, 0xffffffff00000000, 0x00ff00ffff00ff00)
  TEST_RR(25, and, 0x00ff00ff00000000, 0xffffffff00000000, 0x00ff00ffff00ff00)
  TEST_RI(26, addi, 0xffffffffffffffff, 0, -1)
  TEST_RI(27, addi, 0x100000000, 0xffffffff, 1)
  TEST_RI(28, addiw, 0xffffffff80000000, 0x7fffffff, 1)
  TEST_RI(29, slti, 1, -5, -4)
  TEST_RI(30, sltiu, 1, 5, -1)          /* immediate sign-extended then unsigned */
  TEST_RI(31, xori, 0xfffffffffffff0f0, 0x0f0f, -1)
  TEST_RI(32, ori, -1, 0, -1)
  TEST_RI(33, andi, 0x7ff, 0x123456789abcdfff, 0x7ff)
  TEST_RI(34, slli, 0x8000000000000000, 1, 63)
  TEST_RI(35, srli, 1, 0x8000000000000000, 63)
  TEST_RI(36, srai, -2, 0x8000000000000000, 62)
  TEST_RI(37, srai, 0x1234, 0x1234, 0)
  TEST_RI(38, slliw, 0xffffffff80000000, 1, 31)
  TEST_RI(39, srliw, 0x7fffffff, 0xffffffff, 1)
  TEST_RI(40, sraiw, 0xffffffffffffffff, 0x80000000, 31)

  /* LUI / AUIPC */
  li TESTNUM, 41
  lui a1, 0x80000
  li t6, 0xffffffff80000000
  bne a1, t6, fail
  li TESTNUM, 42
1: auipc a1, 0
  la a2, 1b
  bne a1, a2, fail

  /* branches */
  li TESTNUM, 43
  li a1, -1
  li a2, 1
  blt a2, a1, fail
  bge a1, a2, fail
  bltu a1, a2, fail
  bgeu a2, a1, fail
  beq a1, a2, fail
  bne a1, a1, fail
  li TESTNUM, 44
  li a3, 0
  blt a1, a2, 2f
  j fail
2: bltu a2, a1, 3f
  j fail
3: bge a2, a1, 4f
  j fail
4: bgeu a1, a2, 5f
  j fail
5:
  /* JAL / JALR: link values, bit 0 cleared */
  li TESTNUM, 45
  jal ra, 6f
7: j fail
6: la t0, 7b
  bne ra, t0, fail
  li TESTNUM, 46
  la t0, 8f
  addi t0, t0, 1          /* odd target: JALR clears bit 0 */
  jalr ra, 0(t0)
  j fail
  .align 2
8: li TESTNUM, 47
  la t0, 9f
  jalr t0, 0(t0)          /* rd = rs1: target read before the link is written */
  j fail
9:
  /* loads and stores of every width, with sign and zero extension */
  li TESTNUM, 48
  la s0, scratch
  li a1, 0x8081828384858687
  sd a1, 0(s0)
  lb a2, 0(s0)
  CHECK(49, a2, 0xffffffffffffff87)
  lbu a2, 0(s0)
  CHECK(50, a2, 0x87)
  lh a2, 2(s0)
  CHECK(51, a2, 0xffffffffffff8485)
  lhu a2, 2(s0)
  CHECK(52, a2, 0x8485)
  lw a2, 4(s0)
  CHECK(53, a2, 0xffffffff80818283)
  lwu a2, 4(s0)
  CHECK(54, a2, 0x80818283)
  ld a2, 0(s0)
  CHECK(55, a2, 0x8081828384858687)
  sb zero, 1(s0)
  sh zero, 4(s0)
  ld a2, 0(s0)
  CHECK(56, a2, 0x8081000084850087)
  sw zero, 0(s0)
  ld a2, 0(s0)
  CHECK(57, a2, 0x8081000000000000)
  li a1, -8
  sd a1, 8(s0)
  ld a2, 16(s0)
  ld a2, 8(s0)
  CHECK(58, a2, -8)
  /* misaligned loads and stores (in hardware) */
  li a1, 0x1122334455667788
  sd a1, 1(s0)
  ld a2, 1(s0)
  CHECK(59, a2, 0x1122334455667788)
  lw a2, 3(s0)
  CHECK(60, a2, 0x33445566)
  lhu a2, 7(s0)
  CHECK(61, a2, 0x1122)
  /* x0 stays zero */
  li TESTNUM, 62
  addi x0, x0, 5
  bnez x0, fail
  /* fence and fence.i are accepted */
  fence
  fence.i
TEST_END
