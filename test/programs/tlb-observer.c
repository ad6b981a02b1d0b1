/*
 * A bare-metal program that prints what a hart's hidden caches could leak:
 *  - how many SCs succeed after an LR and a store (to the same page, to
 *    another page), and with no store in between;
 *  - under Sv39 in S-mode, how often a load sets the A bit and a store the A
 *    and D bits of a PTE that the program cleared just before, without an
 *    SFENCE.VMA (Linux's page reclaim clears accessed bits this way).
 * vmrs must print the same numbers under run, record, replay, replay from a
 * snapshot and under a debugger: whatever the guest sees is a function of
 * guest state alone. Output on the UART; power-off through sifive_test.
 */
#include <stdint.h>

#define UART ((volatile uint8_t *)0x10000000UL)
#define SIFIVE_TEST ((volatile uint32_t *)0x100000UL)
#define ROUNDS 200000

#define PTE_V 0x01
#define PTE_R 0x02
#define PTE_W 0x04
#define PTE_X 0x08
#define PTE_A 0x40
#define PTE_D 0x80
#define TEST_VA 0x40000000UL

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l0[512] __attribute__((aligned(4096)));
static volatile uint64_t data_page[512] __attribute__((aligned(4096)));
static volatile uint64_t cell[512] __attribute__((aligned(4096)));
static volatile uint64_t other[512] __attribute__((aligned(4096)));
uint64_t m_stack[512] __attribute__((aligned(16), used));

static void put(char c) { *UART = (uint8_t)c; }
static void puts_(const char *s) {
  while (*s) put(*s++);
}
static void putu(uint64_t v) {
  char b[24];
  int i = 0;
  do b[i++] = (char)('0' + v % 10); while (v /= 10);
  while (i) put(b[--i]);
}
static void report(const char *name, uint64_t v) {
  puts_(name);
  put('=');
  putu(v);
  put('\n');
}

/* LR, then `store` (0: none, 1: same page, 2: another page), then SC. */
static uint64_t lrsc(int store) {
  uint64_t ok = 0;
  for (uint64_t i = 0; i < ROUNDS; i++) {
    uint64_t old, fail;
    if (store == 0)
      __asm__ volatile("lr.d %0, (%2)\n\taddi %0, %0, 1\n\tsc.d %1, %0, (%2)"
                       : "=&r"(old), "=&r"(fail) : "r"(cell) : "memory");
    else if (store == 1)
      __asm__ volatile("lr.d %0, (%2)\n\tsd %3, 256(%2)\n\tsc.d %1, %0, (%2)"
                       : "=&r"(old), "=&r"(fail) : "r"(cell), "r"(i) : "memory");
    else
      __asm__ volatile("lr.d %0, (%2)\n\tsd %3, 0(%4)\n\tsc.d %1, %0, (%2)"
                       : "=&r"(old), "=&r"(fail) : "r"(cell), "r"(i), "r"(other) : "memory");
    if (fail == 0) ok++;
  }
  return ok;
}

static void s_main(void) {
  volatile uint64_t *va = (volatile uint64_t *)TEST_VA;
  volatile uint64_t *pte = (volatile uint64_t *)&l0[0];
  uint64_t a_set = 0, ad_set = 0, sum = 0;
  for (uint64_t i = 0; i < ROUNDS; i++) {
    sum += va[1];
    if (*pte & PTE_A) a_set++;
    *pte &= ~(uint64_t)(PTE_A | PTE_D);
    va[2] = i;
    if ((*pte & (PTE_A | PTE_D)) == (PTE_A | PTE_D)) ad_set++;
    *pte &= ~(uint64_t)(PTE_A | PTE_D);
  }
  report("load-sets-A", a_set);
  report("store-sets-AD", ad_set);
  report("sum", sum + data_page[2]);
  /* AMOs on a PTE, as Linux's ptep_test_and_clear_young does. */
  uint64_t young = 0;
  for (uint64_t i = 0; i < ROUNDS / 4; i++) {
    (void)va[3];
    uint64_t old;
    __asm__ volatile("amoand.d %0, %2, (%1)" : "=r"(old) : "r"(pte), "r"(~(uint64_t)PTE_A) : "memory");
    if (old & PTE_A) young++;
  }
  report("amo-young", young);
  *SIFIVE_TEST = 0x5555;
  for (;;) {}
}

void m_trap(void) {
  uint64_t cause, epc;
  __asm__ volatile("csrr %0, mcause" : "=r"(cause));
  __asm__ volatile("csrr %0, mepc" : "=r"(epc));
  puts_("unexpected trap: cause ");
  putu(cause);
  puts_(" at ");
  putu(epc);
  put('\n');
  *SIFIVE_TEST = 0x3333 | (1 << 16);
  for (;;) {}
}

void m_main(void) {
  report("lrsc-no-store", lrsc(0));
  report("lrsc-store-same-page", lrsc(1));
  report("lrsc-store-other-page", lrsc(2));

  /* Sv39: 0x0-0x3fffffff (MMIO) and 0x80000000-0xbfffffff identity-mapped by 1 GiB leaves, */
  /* TEST_VA by a 4 KiB page whose PTE starts with A and D clear. */
  root[0] = (0x0UL >> 12) << 10 | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
  root[2] = (0x80000000UL >> 12) << 10 | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
  root[1] = ((uint64_t)l1 >> 12) << 10 | PTE_V;
  l1[0] = ((uint64_t)l0 >> 12) << 10 | PTE_V;
  l0[0] = ((uint64_t)data_page >> 12) << 10 | PTE_V | PTE_R | PTE_W;
  data_page[1] = 3;
  uint64_t satp = (8UL << 60) | ((uint64_t)root >> 12);
  uint64_t mstatus;
  __asm__ volatile("csrr %0, mstatus" : "=r"(mstatus));
  mstatus = (mstatus & ~(3UL << 11)) | (1UL << 11); /* MPP = S */
  __asm__ volatile("csrw satp, %0\n\tsfence.vma\n\tcsrw mstatus, %1\n\tcsrw mepc, %2\n\tmret"
                   :: "r"(satp), "r"(mstatus), "r"(s_main) : "memory");
}

__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "  la sp, m_stack + 4096\n"
        "  la t0, trap_entry\n"
        "  csrw mtvec, t0\n"
        "  j m_main\n"
        ".align 2\n"
        "trap_entry:\n"
        "  la sp, m_stack + 4096\n"
        "  j m_trap\n"
        ".section .data\n"
        ".globl tohost\ntohost: .dword 0\n");
