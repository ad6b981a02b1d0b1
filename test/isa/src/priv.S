#include "harness.h"
/* Privileged architecture: CSR access rules, misa, mstatus WARL, ecall causes
   from each mode, mret/sret, delegation to S, illegal instruction mtval,
   counters and their enables, WFI trapping. */
#define GOTO_MODE(mode, label)          \
  li t0, (3 << 11); csrc mstatus, t0;   \
  li t0, ((mode) << 11); csrs mstatus, t0; \
  la t0, label; csrw mepc, t0; mret

TEST_BEGIN
  /* misa: RV64 IMAFDC S U */
  csrr a1, misa
  li t0, 0x8000000000141129 | (1 << 3) | (1 << 5) | 1
  CHECK(2, a1, 0x800000000014112d)
  /* mhartid 0, mvendorid 0 */
  csrr a1, mhartid
  CHECK(3, a1, 0)
  /* writing a read-only CSR is illegal; reading it with csrrs x0 is fine */
  SET_TRAP_HOOK(ro_handler)
  li TESTNUM, 4
  csrrs a1, mvendorid, x0
  li TESTNUM, 5
  csrw mvendorid, a1
  j fail
ro_handler:
  csrr t0, mcause
  CHECK(6, t0, 2)
  csrr t0, mtval
  li t1, 0xf1159073     /* csrw mvendorid, a1 */
  CHECK(7, t0, 0xf1159073)
  /* an unknown CSR is illegal */
  SET_TRAP_HOOK(unknown_handler)
  li TESTNUM, 8
  csrr a1, 0x7ff
  j fail
unknown_handler:
  csrr t0, mcause
  CHECK(9, t0, 2)
  /* mstatus: MPP WARL (2 -> reads as a legal value), UXL/SXL = 2 */
  li t0, (3 << 11)
  csrc mstatus, t0
  li t0, (2 << 11)
  csrs mstatus, t0
  csrr a1, mstatus
  srli a1, a1, 11
  andi a1, a1, 3
  li TESTNUM, 10
  li t6, 2
  beq a1, t6, fail
  csrr a1, mstatus
  srli a1, a1, 32
  andi a1, a1, 0xf
  CHECK(11, a1, 0xa)

  /* ecall from M: cause 11; mepc = the ecall */
  SET_TRAP_HOOK(ecall_m_handler)
  li TESTNUM, 12
ecall_m:
  ecall
  j fail
ecall_m_handler:
  csrr t0, mcause
  CHECK(13, t0, 11)
  csrr t0, mepc
  la t1, ecall_m
  li TESTNUM, 14
  bne t0, t1, fail
  /* ebreak: cause 3 */
  SET_TRAP_HOOK(ebreak_handler)
  li TESTNUM, 15
  ebreak
  j fail
ebreak_handler:
  csrr t0, mcause
  CHECK(16, t0, 3)

  /* U-mode: ecall cause 8, M CSR access illegal, wfi illegal, counters gated */
  SET_TRAP_HOOK(u_ecall_handler)
  li TESTNUM, 17
  csrwi mcounteren, 0
  GOTO_MODE(0, in_user)
in_user:
  ecall
  j fail
u_ecall_handler:
  csrr t0, mcause
  CHECK(18, t0, 8)
  csrr t0, mstatus        /* MPP = U after a trap from U */
  srli t0, t0, 11
  andi t0, t0, 3
  CHECK(19, t0, 0)
  SET_TRAP_HOOK(u_csr_handler)
  li TESTNUM, 20
  GOTO_MODE(0, user_csr)
user_csr:
  csrr a1, mstatus
  j fail
u_csr_handler:
  csrr t0, mcause
  CHECK(21, t0, 2)
  SET_TRAP_HOOK(u_cycle_handler)
  li TESTNUM, 22
  GOTO_MODE(0, user_cycle)
user_cycle:
  rdcycle a1              /* mcounteren.CY = 0: illegal */
  j fail
u_cycle_handler:
  csrr t0, mcause
  CHECK(23, t0, 2)
  /* with mcounteren and scounteren set, U may read time and instret */
  csrwi mcounteren, 7
  csrwi scounteren, 7
  SET_TRAP_HOOK(u_done_handler)
  li TESTNUM, 24
  GOTO_MODE(0, user_time)
user_time:
  rdtime a1
  rdinstret a2
  rdinstret a3
  ble a3, a2, fail
  ecall
u_done_handler:
  csrr t0, mcause
  CHECK(25, t0, 8)
  /* WFI in U traps */
  SET_TRAP_HOOK(u_wfi_handler)
  li TESTNUM, 26
  GOTO_MODE(0, user_wfi)
user_wfi:
  wfi
  j fail
u_wfi_handler:
  csrr t0, mcause
  CHECK(27, t0, 2)

  /* S-mode with delegation: ecall from U goes to stvec */
  la t0, s_handler
  csrw stvec, t0
  li t0, (1 << 8)
  csrw medeleg, t0
  SET_TRAP_HOOK(m_after_s)
  li TESTNUM, 28
  GOTO_MODE(0, user_deleg)
user_deleg:
  ecall
  j fail
  .align 2
s_handler:
  csrr t0, scause
  CHECK(29, t0, 8)
  csrr t0, sstatus        /* SPP = U */
  andi t0, t0, (1 << 8)
  CHECK(30, t0, 0)
  /* S-mode: ecall is cause 9, to M */
  li TESTNUM, 31
  ecall
m_after_s:
  csrr t0, mcause
  CHECK(32, t0, 9)
  csrr t0, mstatus
  srli t0, t0, 11
  andi t0, t0, 3
  CHECK(33, t0, 1)        /* MPP = S */
  csrw medeleg, zero
  /* S-mode: sret back to U works; TSR makes sret illegal */
  SET_TRAP_HOOK(tsr_handler)
  li t0, (1 << 22)
  csrs mstatus, t0
  li TESTNUM, 34
  GOTO_MODE(1, s_sret)
s_sret:
  sret
  j fail
tsr_handler:
  csrr t0, mcause
  CHECK(35, t0, 2)
  li t0, (1 << 22)
  csrc mstatus, t0
  /* S-mode cannot read M CSRs */
  SET_TRAP_HOOK(s_mcsr_handler)
  li TESTNUM, 36
  GOTO_MODE(1, s_mcsr)
s_mcsr:
  csrr a1, mscratch
  j fail
s_mcsr_handler:
  csrr t0, mcause
  CHECK(37, t0, 2)
  /* sstatus is a view of mstatus */
  li t0, (1 << 18)
  csrs sstatus, t0
  csrr a1, mstatus
  li t1, (1 << 18)
  and a1, a1, t1
  CHECK(38, a1, (1 << 18))
  csrc sstatus, t0
  /* minstret counts retired instructions */
  csrr a1, minstret
  nop
  nop
  csrr a2, minstret
  sub a2, a2, a1
  CHECK(39, a2, 3)
  /* unmapped physical addresses: access faults with mtval = the address */
  SET_TRAP_HOOK(load_fault_handler)
  li TESTNUM, 40
  li s1, 0x40000000
  ld a1, 8(s1)
  j fail
load_fault_handler:
  csrr t0, mcause
  CHECK(41, t0, 5)
  csrr t0, mtval
  addi t1, s1, 8
  li TESTNUM, 42
  bne t0, t1, fail
  SET_TRAP_HOOK(store_fault_handler)
  li TESTNUM, 43
  sw a1, 0(s1)
  j fail
store_fault_handler:
  csrr t0, mcause
  CHECK(44, t0, 7)
  SET_TRAP_HOOK(fetch_fault_handler)
  li TESTNUM, 45
  jr s1
  j fail
fetch_fault_handler:
  csrr t0, mcause
  CHECK(46, t0, 1)
  csrr t0, mepc
  li TESTNUM, 47
  bne t0, s1, fail
  CLEAR_TRAP_HOOK
TEST_END
