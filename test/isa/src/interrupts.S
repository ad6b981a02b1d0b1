#include "harness.h"
/* Interrupts: the CLINT machine timer (MTI) woken from WFI, a software
   interrupt delegated to S (SSIP), and the Sstc supervisor timer (stimecmp). */
#define CLINT_MTIMECMP 0x2004000
#define CLINT_MTIME    0x200bff8
TEST_BEGIN
  /* machine timer: mtimecmp = mtime + 100, wfi, take MTI */
  SET_TRAP_HOOK(mti_handler)
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  addi t1, t1, 100
  li t0, CLINT_MTIMECMP
  sd t1, 0(t0)
  li t0, (1 << 7)
  csrs mie, t0
  csrsi mstatus, 8
  li TESTNUM, 2
1: wfi
  j 1b
mti_handler:
  csrr t0, mcause
  li TESTNUM, 3
  li t1, 0x8000000000000007
  bne t0, t1, fail
  /* time has reached mtimecmp */
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  li t0, CLINT_MTIMECMP
  ld t2, 0(t0)
  li TESTNUM, 4
  bltu t1, t2, fail
  /* silence the timer: mtimecmp = max */
  li t1, -1
  sd t1, 0(t0)
  csrr t1, mip
  andi t1, t1, (1 << 7)
  CHECK(5, t1, 0)
  csrci mstatus, 8

  /* supervisor software interrupt, delegated: M sets SSIP, S takes it */
  la t0, s_handler
  csrw stvec, t0
  li t0, (1 << 1)
  csrw mideleg, t0
  csrs mie, t0
  li TESTNUM, 6
  li t0, (3 << 11)
  csrc mstatus, t0
  li t0, (1 << 11)
  csrs mstatus, t0
  la t0, in_s
  csrw mepc, t0
  mret
in_s:
  csrsi sstatus, 2          /* SIE */
  li t0, (1 << 1)
  csrs sip, t0              /* S can raise its own SSIP when delegated */
  li TESTNUM, 7
  nop
  j fail
  .align 2
s_handler:
  csrr t0, scause
  li TESTNUM, 8
  li t1, 0x8000000000000001
  bne t0, t1, fail
  li t0, (1 << 1)
  csrc sip, t0
  csrci sstatus, 2
  /* Sstc: stimecmp readable from S only when menvcfg.STCE is set */
  SET_TRAP_HOOK(stce_off_handler)
  li TESTNUM, 9
  csrr t0, 0x14d
  j fail
stce_off_handler:
  csrr t0, mcause
  CHECK(10, t0, 2)
  CLEAR_TRAP_HOOK
  csrwi mcounteren, 2       /* S may read time */
  /* back in M: enable STCE, delegate STI, go to S and wait for it */
  li t0, 1
  slli t0, t0, 63
  csrs 0x30a, t0            /* menvcfg.STCE */
  li t0, (1 << 5)
  csrs mideleg, t0
  csrs mie, t0
  la t0, sti_handler
  csrw stvec, t0
  li t0, (3 << 11)
  csrc mstatus, t0
  li t0, (1 << 11)
  csrs mstatus, t0
  la t0, s_wait
  csrw mepc, t0
  mret
s_wait:
  rdtime t0
  addi t0, t0, 50
  csrw 0x14d, t0            /* stimecmp */
  csrsi sstatus, 2
  li TESTNUM, 11
2: wfi
  j 2b
  .align 2
sti_handler:
  csrr t0, scause
  li TESTNUM, 12
  li t1, 0x8000000000000005
  bne t0, t1, fail
  li t0, -1
  csrw 0x14d, t0            /* clears STIP */
  csrr t0, sip
  andi t0, t0, (1 << 5)
  CHECK(13, t0, 0)
  j pass
TEST_END
