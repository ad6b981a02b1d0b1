#include "harness.h"
/* C extension: one of each compressed instruction class, and an illegal encoding. */
TEST_BEGIN
  .option push
  .option rvc
  la s0, scratch
  li TESTNUM, 2
  c.li a0, -3
  c.addi a0, 5
  CHECK(3, a0, 2)
  c.lui a1, 0xfffe1        /* sign-extended 20-bit upper */
  CHECK(4, a1, 0xfffffffffffe1000)
  li a1, 0x7fffffff
  c.addiw a1, 1
  CHECK(5, a1, 0xffffffff80000000)
  c.mv a2, a1
  c.add a2, a1
  CHECK(6, a2, 0xffffffff00000000)
  li a3, 3
  li a4, 5
  c.sub a3, a4
  CHECK(7, a3, -2)
  c.xor a3, a4
  CHECK(8, a3, -5)
  li a3, 12
  c.or a3, a4
  CHECK(9, a3, 13)
  c.and a3, a4
  CHECK(10, a3, 5)
  li a3, 0x7fffffff
  li a4, 1
  c.addw a3, a4
  CHECK(11, a3, 0xffffffff80000000)
  c.subw a3, a4
  CHECK(12, a3, 0x7fffffff)
  li a3, 1
  c.slli a3, 63
  CHECK(13, a3, 0x8000000000000000)
  c.srai a3, 62
  CHECK(14, a3, -2)
  c.srli a3, 60
  CHECK(15, a3, 0xf)
  c.andi a3, 5
  CHECK(16, a3, 5)
  /* loads/stores */
  li a4, 0x1122334455667788
  c.sd a4, 8(s0)
  c.ld a5, 8(s0)
  CHECK(17, a5, 0x1122334455667788)
  c.lw a5, 12(s0)
  CHECK(18, a5, 0x11223344)
  c.sw a4, 16(s0)
  c.lw a5, 16(s0)
  CHECK(19, a5, 0x55667788)
  /* stack-pointer forms */
  mv t1, sp
  mv sp, s0
  c.addi16sp sp, 32
  c.addi4spn a5, sp, 8
  addi t0, s0, 40
  bne a5, t0, fail
  li TESTNUM, 20
  c.sdsp a4, 0(sp)
  c.ldsp a2, 0(sp)
  bne a2, a4, fail
  c.swsp a4, 8(sp)
  c.lwsp a2, 8(sp)
  CHECK(21, a2, 0x55667788)
  mv sp, t1
  /* control flow */
  li TESTNUM, 22
  c.j 1f
  j fail
1: li a0, 0
  c.beqz a0, 2f
  j fail
2: li a0, 1
  c.bnez a0, 3f
  j fail
3: la t0, 4f
  c.jalr t0
5: j 6f
  .align 2
4: la t1, 5b
  bne ra, t1, fail     /* link = pc + 2 */
  la t0, 5b
  c.jr t0
6: li TESTNUM, 23
  c.nop
  /* an all-zero halfword is illegal: cause 2 */
  SET_TRAP_HOOK(illegal_handler)
  li TESTNUM, 24
  .2byte 0x0000
  j fail
illegal_handler:
  csrr t0, mcause
  CHECK(25, t0, 2)
  CLEAR_TRAP_HOOK
  /* c.ebreak: cause 3 */
  SET_TRAP_HOOK(ebreak_handler)
  li TESTNUM, 26
  c.ebreak
  j fail
ebreak_handler:
  csrr t0, mcause
  CHECK(27, t0, 3)
  CLEAR_TRAP_HOOK
  .option pop
TEST_END
