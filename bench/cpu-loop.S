# CPU-bound bare-metal loop for bench/cpu-loop.ts: integer arithmetic,
# multiplies, loads/stores over a small array, branches and calls, with a
# mix of compressed and full-size instructions. Runs in M-mode without
# paging, then again in S-mode under Sv39 (identity gigapage) so that the
# TLB path is measured too. Ends by writing 1 to tohost (HTIF "pass").
  .option norvc
  .section .text.init
  .globl _start
_start:
  la sp, stack_top
  la t0, trap
  csrw mtvec, t0
  li s0, ITERS
  call work
  # Sv39 with one identity 1 GiB gigapage at 0x80000000 (VPN2 = 2).
  la t0, root_pt
  li t1, (0x80000000 >> 12) << 10 | 0xcf    # V R W X A D
  sd t1, 16(t0)
  srli t0, t0, 12
  li t1, 8 << 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  la t0, s_mode
  csrw mepc, t0
  li t0, 1 << 11                   # MPP = S
  csrw mstatus, t0
  mret
s_mode:
  li s0, ITERS
  call work
  ecall                             # S-mode ecall: handled by M-mode below
  .option rvc
work:
  addi sp, sp, -16
  sd ra, 8(sp)
1:
  la a0, buf
  li a1, 64
  li a2, 0
2:
  ld a3, 0(a0)
  add a3, a3, a1
  mul a4, a3, a1
  xor a2, a2, a4
  srli a5, a2, 7
  add a2, a2, a5
  sd a3, 0(a0)
  sw a2, 8(a0)
  addi a0, a0, 16
  addi a1, a1, -1
  bnez a1, 2b
  mv a0, a2
  call mix
  addi s0, s0, -1
  bnez s0, 1b
  ld ra, 8(sp)
  addi sp, sp, 16
  ret
mix:
  slli t0, a0, 13
  xor a0, a0, t0
  srai t0, a0, 7
  xor a0, a0, t0
  sltu t1, a0, t0
  add a0, a0, t1
  ret

  .option norvc
  .align 2
trap:
  li t0, 1
  la t1, tohost
  sd t0, 0(t1)
3: j 3b

  .section .data
  .align 12
root_pt: .space 4096
buf: .space 1024
  .space 4096
stack_top:
  .align 6
  .globl tohost
tohost: .dword 0
  .align 6
  .globl fromhost
fromhost: .dword 0
