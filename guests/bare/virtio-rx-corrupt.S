/*
 * A hostile virtio driver: sets up receive queue 0 of the device in
 * virtio-mmio slot 0 (virtio-net or virtio-console), then corrupts its
 * available ring (an index far ahead of anything posted) and waits. When host
 * input reaches the device — a frame, console bytes — the device must go
 * DEVICE_NEEDS_RESET and the host go on. Prints "ready" on the UART once the
 * ring is broken, "needs-reset" when the device says so, then passes (HTIF).
 * Failures: 1 no virtio device, 2 features refused, 3 failed before input.
 * Built with test/isa/src/harness.h and link.ld.
 */
#include "harness.h"

#define VIRTIO 0x10001000
#define UART 0x10000000

#define PUTS(label)        \
  la a1, label;            \
  call puts

TEST_BEGIN
  li s0, VIRTIO
  li TESTNUM, 1
  lw t0, 0(s0)
  li t1, 0x74726976        /* "virt" */
  bne t0, t1, fail
  lw t0, 8(s0)             /* DeviceID */
  beqz t0, fail

  sw zero, 0x70(s0)        /* reset */
  li t0, 1
  sw t0, 0x70(s0)          /* ACKNOWLEDGE */
  li t0, 3
  sw t0, 0x70(s0)          /* DRIVER */
  li t0, 1
  sw t0, 0x24(s0)          /* DriverFeaturesSel 1 */
  sw t0, 0x20(s0)          /* VIRTIO_F_VERSION_1 only */
  sw zero, 0x24(s0)
  sw zero, 0x20(s0)
  li t0, 11
  sw t0, 0x70(s0)          /* FEATURES_OK */
  li TESTNUM, 2
  lw t0, 0x70(s0)
  andi t0, t0, 8
  beqz t0, fail

  sw zero, 0x30(s0)        /* QueueSel 0: receive */
  li t0, 4
  sw t0, 0x38(s0)          /* QueueNum */
  la t0, ring_desc
  sw t0, 0x80(s0)
  sw zero, 0x84(s0)
  la t0, ring_avail
  sw t0, 0x90(s0)
  sw zero, 0x94(s0)
  la t0, ring_used
  sw t0, 0xa0(s0)
  sw zero, 0xa4(s0)
  li t0, 1
  sw t0, 0x44(s0)          /* QueueReady */

  /* The corruption: avail.idx far ahead of the 4 entries the ring has. */
  la t0, ring_avail
  li t1, 0x8000
  sh t1, 2(t0)
  li t0, 15
  sw t0, 0x70(s0)          /* DRIVER_OK */

  li TESTNUM, 3
  lw t0, 0x70(s0)
  andi t0, t0, 0x40
  bnez t0, fail            /* nothing has reached the device yet */
  PUTS(msg_ready)
wait:
  lw t0, 0x70(s0)
  andi t0, t0, 0x40        /* DEVICE_NEEDS_RESET */
  beqz t0, wait
  PUTS(msg_reset)
  j pass

puts:
  li t0, UART
1:
  lbu t1, 0(a1)
  beqz t1, 2f
  sb t1, 0(t0)
  addi a1, a1, 1
  j 1b
2:
  ret

msg_ready: .asciz "ready\n"
msg_reset: .asciz "needs-reset\n"
  .align 2
TEST_END
  .align 12
ring_desc: .fill 64, 1, 0
ring_avail: .fill 16, 1, 0
  .align 4
ring_used: .fill 64, 1, 0
