#include "harness.h"
/* Fails on purpose through the harness's unexpected-trap path: case 6 runs an
   illegal instruction with no trap hook installed.
   expect-exit: 6 */
TEST_BEGIN
  TEST_RR(2, add, 3, 1, 2)
  li TESTNUM, 6
  .word 0
  li TESTNUM, 7
TEST_END
