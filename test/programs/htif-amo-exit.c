/*
 * Exits through HTIF with an AMO (amoswap.d on tohost) after a loop, with
 * status 7: the exit must take effect at that instruction, whatever the
 * length of the slice it falls in (a store's does; an AMO's must too).
 */
#include <stdint.h>

extern volatile uint64_t tohost;
uint64_t m_stack[512] __attribute__((aligned(16), used));

void m_main(void) {
  volatile uint64_t x = 0;
  for (int i = 0; i < 100000; i++) x += (uint64_t)i;
  uint64_t old;
  __asm__ volatile("amoswap.d %0, %1, (%2)" : "=r"(old) : "r"((7UL << 1) | 1), "r"(&tohost) : "memory");
  /* Spin (each pass adds instructions, so a late exit shows in the icount). */
  for (;;) x++;
}

__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "  la sp, m_stack + 4096\n"
        "  j m_main\n"
        ".section .data\n"
        ".align 6\n"
        ".globl tohost\ntohost: .dword 0\n"
        ".align 6\n"
        ".globl fromhost\nfromhost: .dword 0\n");
