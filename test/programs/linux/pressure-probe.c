/*
 * A Linux program that shows whether its hot pages stay "young" under memory
 * pressure. It maps a small file and touches its pages over and over while it
 * streams a file larger than RAM through the page cache, so reclaim runs in
 * its own context and clears the accessed bits of its live PTEs (without an
 * SFENCE.VMA, as Linux does). A hart that set accessed bits only on TLB
 * misses would let those pages look unused and be evicted (major faults).
 * Prints a checksum and its fault counts.
 *   pressure-probe HOT_FILE BIG_FILE
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define HOT_PAGES 64
#define PAGE 4096

static char buf[65536];

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: pressure-probe HOT_FILE BIG_FILE\n");
    return 2;
  }
  int hot = open(argv[1], O_RDONLY);
  int big = open(argv[2], O_RDONLY);
  if (hot < 0 || big < 0) {
    perror("open");
    return 1;
  }
  volatile unsigned char *h = mmap(0, HOT_PAGES * PAGE, PROT_READ, MAP_SHARED, hot, 0);
  if (h == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  unsigned long sum = 0;
  for (int pass = 0; pass < 2; pass++) {
    lseek(big, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(big, buf, sizeof buf)) > 0) {
      for (int k = 0; k < 40; k++)
        for (int p = 0; p < HOT_PAGES; p++) sum += h[p * PAGE + (k & 63)];
      sum += (unsigned char)buf[n - 1];
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("sum=%lu majflt=%ld minflt=%ld\n", sum, ru.ru_majflt, ru.ru_minflt);
  return 0;
}
