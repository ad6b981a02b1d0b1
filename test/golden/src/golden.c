/*
 * The program of the golden recordings (test/golden/README.md): a bare
 * M-mode program for `vmrs --bios none` that takes every kind of input a
 * small program can: console lines through the 16550 (waiting in WFI for its
 * interrupt), entropy from virtio-rng, the RTC's wall clock, and idle time
 * (a timer wait). It prints what it got and exits through sifive_test with a
 * status computed from it, so a replay that differs in any input shows.
 */
#include <stdint.h>

#define UART 0x10000000UL
#define RTC 0x101000UL
#define TEST 0x100000UL
#define CLINT_MTIMECMP 0x2004000UL
#define CLINT_MTIME 0x200bff8UL
#define PLIC 0xc000000UL
#define VIRTIO0 0x10001000UL
#define UART_IRQ 10

#define REG8(a) (*(volatile uint8_t *)(a))
#define REG32(a) (*(volatile uint32_t *)(a))
#define REG64(a) (*(volatile uint64_t *)(a))

static void putc_(char c) {
  while (!(REG8(UART + 5) & 0x20)) {
  }
  REG8(UART) = (uint8_t)c;
}

static void puts_(const char *s) {
  while (*s) putc_(*s++);
}

static void hex(uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; i--) putc_("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void dec(uint64_t v) {
  char b[24];
  int n = 0;
  do b[n++] = (char)('0' + v % 10), v /= 10;
  while (v);
  while (n) putc_(b[--n]);
}

void golden_main(void);
static uint32_t sum;

/* One line from the console, waiting for the UART's interrupt in WFI. */
static int getline_(char *buf, int max) {
  int n = 0;
  for (;;) {
    while (!(REG8(UART + 5) & 1)) {
      __asm__ volatile("wfi");
      uint32_t id = REG32(PLIC + 0x200004); /* claim (M context 0) */
      if (id) REG32(PLIC + 0x200004) = id;  /* complete */
    }
    char c = (char)REG8(UART);
    sum = sum * 31 + (uint8_t)c;
    if (c == '\n' || c == '\r') {
      buf[n] = 0;
      return n;
    }
    if (n < max - 1) buf[n++] = c;
  }
}

/* Entropy from a virtio-rng in slot 0 (modern virtio-mmio, one 4-entry queue). */
static struct {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
} desc[4] __attribute__((aligned(16)));
static struct {
  uint16_t flags, idx, ring[4], used_event;
} avail __attribute__((aligned(2)));
static struct {
  uint16_t flags, idx;
  struct {
    uint32_t id, len;
  } ring[4];
  uint16_t avail_event;
} used __attribute__((aligned(4)));
static uint8_t entropy[16];

static int read_entropy(void) {
  uintptr_t v = VIRTIO0;
  if (REG32(v) != 0x74726976 || REG32(v + 4) != 2 || REG32(v + 8) != 4) return 0;
  REG32(v + 0x70) = 0;     /* reset */
  REG32(v + 0x70) = 1 | 2; /* ACKNOWLEDGE | DRIVER */
  REG32(v + 0x24) = 1;     /* DriverFeaturesSel: bits 32..63 */
  REG32(v + 0x20) = 1;     /* VIRTIO_F_VERSION_1 */
  REG32(v + 0x24) = 0;
  REG32(v + 0x20) = 0;
  REG32(v + 0x70) = 1 | 2 | 8; /* FEATURES_OK */
  if (!(REG32(v + 0x70) & 8)) return 0;
  REG32(v + 0x30) = 0; /* QueueSel */
  REG32(v + 0x38) = 4; /* QueueNum */
  REG32(v + 0x80) = (uint32_t)(uintptr_t)desc;
  REG32(v + 0x84) = 0;
  REG32(v + 0x90) = (uint32_t)(uintptr_t)&avail;
  REG32(v + 0x94) = 0;
  REG32(v + 0xa0) = (uint32_t)(uintptr_t)&used;
  REG32(v + 0xa4) = 0;
  REG32(v + 0x44) = 1;         /* QueueReady */
  REG32(v + 0x70) = 1 | 2 | 8 | 4; /* DRIVER_OK */
  desc[0].addr = (uintptr_t)entropy;
  desc[0].len = sizeof entropy;
  desc[0].flags = 2; /* device writes */
  avail.ring[0] = 0;
  __asm__ volatile("fence rw, rw");
  avail.idx = 1;
  __asm__ volatile("fence rw, rw");
  REG32(v + 0x50) = 0; /* QueueNotify */
  while (*(volatile uint16_t *)&used.idx == 0) {
  }
  __asm__ volatile("fence rw, rw");
  return (int)used.ring[0].len;
}

void golden_main(void) {
  char line[64];
  /* The UART's receive interrupt, routed by the PLIC to this hart's M context;
     mie.MEIE lets WFI wake on it (mstatus.MIE stays clear: no trap is taken). */
  REG32(PLIC + 4 * UART_IRQ) = 1;
  REG32(PLIC + 0x2000) = 1u << UART_IRQ;
  REG32(PLIC + 0x200000) = 0;
  REG8(UART + 2) = 1; /* FIFO on */
  REG8(UART + 1) = 1; /* receive interrupt on: input flows in */
  __asm__ volatile("csrs mie, %0" ::"r"(1ul << 11));

  puts_("golden: hello\n");
  uint64_t lo = REG32(RTC), hi = REG32(RTC + 4);
  puts_("rtc ns: ");
  dec(hi << 32 | lo);
  putc_('\n');

  int n = read_entropy();
  puts_("entropy: ");
  for (int i = 0; i < n; i++) {
    hex(entropy[i], 2);
    sum = sum * 31 + entropy[i];
  }
  putc_('\n');

  for (int k = 0; k < 2; k++) {
    int len = getline_(line, sizeof line);
    puts_("line ");
    dec((uint64_t)k);
    puts_(": [");
    puts_(line);
    puts_("] ");
    dec((uint64_t)len);
    puts_(" bytes\n");
  }

  /* Idle: wait for a timer 0.2 s of virtual time ahead. */
  uint64_t t0 = REG64(CLINT_MTIME);
  REG64(CLINT_MTIMECMP) = t0 + 2000000;
  __asm__ volatile("csrs mie, %0" ::"r"(1ul << 7));
  while (REG64(CLINT_MTIME) < t0 + 2000000) __asm__ volatile("wfi");
  uint64_t instret;
  __asm__ volatile("csrr %0, minstret" : "=r"(instret));
  puts_("slept; instret ");
  dec(instret);
  puts_("\nchecksum ");
  hex(sum, 8);
  putc_('\n');

  /* sifive_test FAIL with a status of 1..100 computed from the inputs. */
  uint32_t status = 1 + sum % 100;
  REG32(TEST) = status << 16 | 0x3333;
  for (;;) {
  }
}

uint8_t golden_stack[8192] __attribute__((aligned(16)));

__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "  la sp, golden_stack + 8192\n"
        "  call golden_main\n"
        "1: j 1b\n");
