#include "harness.h"
/* Not a pass/fail HTIF test: reports failure code 7 through sifive_test at
   0x100000, as a guest's poweroff driver would.
   expect-exit: 7 */
TEST_BEGIN
  li t0, 0x100000
  li t1, (7 << 16) | 0x3333
  sw t1, 0(t0)
3: j 3b
TEST_END
