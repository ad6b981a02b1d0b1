/*
 * Harness for vmrs ISA tests: bare-metal M-mode programs that report through
 * HTIF (tohost = 1 passes; (n << 1) | 1 fails test n). `gp` holds the number
 * of the current test case. A test can take traps itself by storing a
 * handler address in `trap_hook`; otherwise an unexpected trap fails.
 */
#define TESTNUM gp

#define TEST_BEGIN                      \
  .section .text.init;                  \
  .globl _start;                        \
_start:                                 \
  la t0, trap_entry;                    \
  csrw mtvec, t0;                       \
  li t0, (1 << 13);                     \
  csrs mstatus, t0;                     \
  csrwi fcsr, 0;                        \
  li TESTNUM, 0;                        \
  j tests;                              \
  .align 2;                             \
trap_entry:                             \
  la t5, trap_hook;                     \
  ld t5, 0(t5);                         \
  beqz t5, unexpected_trap;             \
  jr t5;                                \
unexpected_trap:                        \
  j fail;                               \
pass:                                   \
  li a0, 1;                             \
  la t0, tohost;                        \
  sd a0, 0(t0);                         \
1: j 1b;                                \
fail:                                   \
  slli a0, TESTNUM, 1;                  \
  ori a0, a0, 1;                        \
  la t0, tohost;                        \
  sd a0, 0(t0);                         \
2: j 2b;                                \
tests:

#define TEST_END                        \
  j pass;                               \
  .data;                                \
  .align 6;                             \
  .globl tohost;                        \
  .type tohost, @object;                \
  .size tohost, 8;                      \
tohost: .dword 0;                       \
  .align 6;                             \
  .globl fromhost;                      \
  .type fromhost, @object;              \
  .size fromhost, 8;                    \
fromhost: .dword 0;                     \
  .align 3;                             \
trap_hook: .dword 0;                    \
  .align 3;                             \
scratch: .fill 64, 8, 0;

/* Install `label` as the trap handler. */
#define SET_TRAP_HOOK(label) la t0, label; la t1, trap_hook; sd t0, 0(t1)
#define CLEAR_TRAP_HOOK la t1, trap_hook; sd zero, 0(t1)

#define CHECK(n, reg, val) li TESTNUM, n; li t6, val; bne reg, t6, fail

#define TEST_RR(n, inst, result, v1, v2) \
  li TESTNUM, n; li a1, v1; li a2, v2; inst a3, a1, a2; li t6, result; bne a3, t6, fail

#define TEST_RI(n, inst, result, v1, imm) \
  li TESTNUM, n; li a1, v1; inst a3, a1, imm; li t6, result; bne a3, t6, fail
