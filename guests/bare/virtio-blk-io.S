/*
 * A small virtio-blk driver (polling, no interrupts) that runs a fixed list
 * of requests on the disk in virtio-mmio slot 0 and prints, for each, its
 * status byte and a hash of its data buffer: "S:HHHH " (status 0 = OK,
 * 1 = I/O error; the hash is the low 16 bits of h = 31·h + byte). Writes
 * carry the pattern byte i = i·(request + 3); reads start from a zeroed
 * buffer. Passes (HTIF) when all are done.
 * Failures: 1 no virtio-blk in slot 0, 2 features refused.
 * Built with test/isa/src/harness.h and link.ld.
 */
#include "harness.h"

#define VIRTIO 0x10001000
#define UART 0x10000000
#define NUM 8
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4

TEST_BEGIN
  li s0, VIRTIO
  li TESTNUM, 1
  lw t0, 8(s0)
  li t1, 2                 /* DeviceID 2: block */
  bne t0, t1, fail
  sw zero, 0x70(s0)
  li t0, 1
  sw t0, 0x70(s0)
  li t0, 3
  sw t0, 0x70(s0)
  li t0, 1
  sw t0, 0x24(s0)
  sw t0, 0x20(s0)          /* VIRTIO_F_VERSION_1 only */
  sw zero, 0x24(s0)
  sw zero, 0x20(s0)
  li t0, 11
  sw t0, 0x70(s0)
  li TESTNUM, 2
  lw t0, 0x70(s0)
  andi t0, t0, 8
  beqz t0, fail
  sw zero, 0x30(s0)
  li t0, NUM
  sw t0, 0x38(s0)
  la t0, desc
  sw t0, 0x80(s0)
  sw zero, 0x84(s0)
  la t0, avail
  sw t0, 0x90(s0)
  sw zero, 0x94(s0)
  la t0, used
  sw t0, 0xa0(s0)
  sw zero, 0xa4(s0)
  li t0, 1
  sw t0, 0x44(s0)
  li t0, 15
  sw t0, 0x70(s0)          /* DRIVER_OK */

  /* One chain, reused: 0 header -> 1 data -> 2 status. */
  la t0, desc
  la t1, hdr
  sd t1, 0(t0)
  li t1, 16
  sw t1, 8(t0)
  li t1, 1
  sh t1, 12(t0)            /* NEXT */
  sh t1, 14(t0)            /* next = 1 */
  la t1, data
  sd t1, 16(t0)
  li t1, 512
  sw t1, 24(t0)
  li t1, 2
  sh t1, 30(t0)            /* next = 2 */
  la t1, status
  sd t1, 32(t0)
  li t1, 1
  sw t1, 40(t0)
  li t1, 2
  sh t1, 44(t0)            /* WRITE */

  la s1, requests
  li s2, 0                 /* avail idx */
  li s3, 0                 /* request number */
next_request:
  ld s4, 0(s1)             /* type */
  bltz s4, all_done
  ld s5, 8(s1)             /* sector */
  la t0, hdr
  sw s4, 0(t0)
  sw zero, 4(t0)
  sd s5, 8(t0)
  /* Data descriptor: NEXT, and WRITE (the device writes it) unless this is a disk write. */
  li t1, 3
  li t2, T_OUT
  bne s4, t2, 1f
  li t1, 1
1:
  la t0, desc
  sh t1, 28(t0)
  /* Data: the pattern i·(request + 3) for a disk write, zeros otherwise. */
  la t0, data
  li t1, 0
2:
  li t3, 0
  bne s4, t2, 3f
  addi t3, s3, 3
  mul t3, t3, t1
3:
  add t4, t0, t1
  sb t3, 0(t4)
  addi t1, t1, 1
  li t5, 512
  blt t1, t5, 2b
  la t0, status
  li t1, 0xee
  sb t1, 0(t0)
  /* Offer head 0 and notify. */
  la t0, avail
  andi t1, s2, NUM - 1
  slli t1, t1, 1
  add t1, t1, t0
  sh zero, 4(t1)
  addi s2, s2, 1
  fence w, w
  sh s2, 2(t0)
  fence w, o
  sw zero, 0x50(s0)
  /* Wait for the device to return it. */
  la t0, used
4:
  lhu t1, 2(t0)
  bne t1, s2, 4b
  fence r, r
  /* Print "S:HHHH ". */
  la t0, status
  lbu a0, 0(t0)
  andi a0, a0, 0xf
  call puthex1
  li a0, ':'
  call putc
  la t0, data
  li t1, 0
  li t3, 0
  li t6, 31
5:
  add t4, t0, t1
  lbu t4, 0(t4)
  mul t3, t3, t6
  add t3, t3, t4
  addi t1, t1, 1
  li t5, 512
  blt t1, t5, 5b
  mv s6, t3
  li s7, 12
6:
  srl a0, s6, s7
  andi a0, a0, 0xf
  call puthex1
  addi s7, s7, -4
  bgez s7, 6b
  li a0, ' '
  call putc
  addi s3, s3, 1
  addi s1, s1, 16
  j next_request
all_done:
  li a0, '\n'
  call putc
  j pass

putc:
  li t6, UART
  sb a0, 0(t6)
  ret

puthex1:
  li t6, 10
  blt a0, t6, 1f
  addi a0, a0, 'a' - 10 - '0'
1:
  addi a0, a0, '0'
  j putc

  .align 3
requests:
  .dword T_OUT, 1
  .dword T_IN, 1
  .dword T_IN, 0
  .dword T_FLUSH, 0
  .dword T_OUT, 2
  .dword T_IN, 2
  .dword T_OUT, 1
  .dword T_IN, 1
  .dword T_IN, 3
  .dword -1, 0
TEST_END
  .align 12
desc: .fill 16 * NUM, 1, 0
avail: .fill 6 + 2 * NUM, 1, 0
  .align 4
used: .fill 6 + 8 * NUM, 1, 0
  .align 4
hdr: .fill 16, 1, 0
data: .fill 512, 1, 0
status: .byte 0
