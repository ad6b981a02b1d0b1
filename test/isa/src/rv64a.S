#include "harness.h"
/* RV64A: LR/SC success and failure, every AMO in W and D forms, misaligned AMO. */
TEST_BEGIN
  la s0, scratch
  li a1, 0x00000000ffffffff
  sd a1, 0(s0)
  /* LR/SC success */
  lr.d a2, (s0)
  CHECK(2, a2, 0xffffffff)
  li a3, 42
  sc.d a4, a3, (s0)
  CHECK(3, a4, 0)
  ld a2, 0(s0)
  CHECK(4, a2, 42)
  /* SC without a reservation fails and leaves memory alone */
  li a3, 7
  sc.d a4, a3, (s0)
  CHECK(5, a4, 1)
  ld a2, 0(s0)
  CHECK(6, a2, 42)
  /* lr.w sign-extends */
  li a1, 0x80000000
  sw a1, 8(s0)
  addi s1, s0, 8
  lr.w a2, (s1)
  CHECK(7, a2, 0xffffffff80000000)
  sc.w a4, zero, (s1)
  CHECK(8, a4, 0)
  /* AMOs, D */
  li a1, 10
  sd a1, 16(s0)
  addi s1, s0, 16
  li a3, 5
  amoadd.d a2, a3, (s1)
  CHECK(9, a2, 10)
  ld a2, 0(s1)
  CHECK(10, a2, 15)
  li a3, 0xff
  amoand.d a2, a3, (s1)
  amoor.d a2, a3, (s1)
  ld a2, 0(s1)
  CHECK(11, a2, 0xff)
  li a3, 0x0f
  amoxor.d a2, a3, (s1)
  ld a2, 0(s1)
  CHECK(12, a2, 0xf0)
  li a3, -1
  amomin.d a2, a3, (s1)
  ld a2, 0(s1)
  CHECK(13, a2, -1)
  li a3, 5
  amomax.d a2, a3, (s1)
  ld a2, 0(s1)
  CHECK(14, a2, 5)
  li a3, -1
  amominu.d a2, a3, (s1)
  ld a2, 0(s1)
  CHECK(15, a2, 5)
  amomaxu.d a2, a3, (s1)
  ld a2, 0(s1)
  CHECK(16, a2, -1)
  li a3, 0x1234
  amoswap.d a2, a3, (s1)
  CHECK(17, a2, -1)
  ld a2, 0(s1)
  CHECK(18, a2, 0x1234)
  /* AMOs, W: results sign-extended, signed vs unsigned compare on 32 bits */
  li a1, 0x7fffffff
  sw a1, 24(s0)
  addi s1, s0, 24
  li a3, 1
  amoadd.w a2, a3, (s1)
  CHECK(19, a2, 0x7fffffff)
  lw a2, 0(s1)
  CHECK(20, a2, 0xffffffff80000000)
  li a3, 0
  amomax.w a2, a3, (s1)
  lw a2, 0(s1)
  CHECK(21, a2, 0)
  li a3, 0x80000000
  amomaxu.w a2, a3, (s1)
  lwu a2, 0(s1)
  CHECK(22, a2, 0x80000000)
  li a3, 1
  amominu.w a2, a3, (s1)
  lw a2, 0(s1)
  CHECK(23, a2, 1)
  li a3, 0xffffffff
  amomin.w a2, a3, (s1)
  lw a2, 0(s1)
  CHECK(24, a2, -1)
  amoswap.w a2, zero, (s1)
  CHECK(25, a2, -1)
  /* misaligned AMO: store/AMO address misaligned (cause 6) */
  li TESTNUM, 26
  SET_TRAP_HOOK(misaligned_handler)
  addi s1, s0, 2
  amoadd.w a2, a3, (s1)
  j fail
misaligned_handler:
  csrr t0, mcause
  CHECK(27, t0, 6)
  csrr t0, mtval
  bne t0, s1, fail
  CLEAR_TRAP_HOOK
TEST_END
