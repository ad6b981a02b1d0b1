/*
 * Seed program for the fuzzers (M-mode, --bios none): prints a greeting on
 * the UART, echoes what it reads there, sleeps in WFI on the CLINT timer
 * between polls (so a recording of it holds idle jumps), and powers off
 * through sifive_test when it reads 'q'.
 */
  .section .text.init
  .globl _start
_start:
  li s0, 0x10000000          /* UART 16550 */
  li s1, 0x100000            /* sifive_test */
  li s2, 0x2000000           /* CLINT */
  la sp, stack_top
  li t0, 1
  sb t0, 1(s0)               /* IER.RDI: the UART takes input */
  la a0, hello
  call puts
  li t0, 0x80                /* mie.MTIE: WFI wakes when the timer is due */
  csrs mie, t0
loop:
  lbu t0, 5(s0)              /* LSR.DR */
  andi t0, t0, 1
  beqz t0, idle
  lbu a0, 0(s0)
  li t1, 'q'
  beq a0, t1, quit
  call putc
  j loop
idle:
  li t2, 0xbff8
  add t2, s2, t2
  ld t3, 0(t2)               /* mtime */
  li t4, 20000
  add t3, t3, t4
  li t4, 0x4000
  add t4, s2, t4
  sd t3, 0(t4)               /* mtimecmp = mtime + 2 ms */
  wfi
  j loop
quit:
  la a0, bye
  call puts
  li t0, 0x5555
  sw t0, 0(s1)
1: j 1b

putc:
  lbu t1, 5(s0)              /* LSR.THRE */
  andi t1, t1, 0x20
  beqz t1, putc
  sb a0, 0(s0)
  ret

puts:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s3, 8(sp)
  mv s3, a0
2:
  lbu a0, 0(s3)
  beqz a0, 3f
  call putc
  addi s3, s3, 1
  j 2b
3:
  ld ra, 0(sp)
  ld s3, 8(sp)
  addi sp, sp, 16
  ret

  .data
hello: .asciz "echo ready\n"
bye: .asciz "\nbye\n"
  .align 4
stack: .fill 256, 8, 0
stack_top:
