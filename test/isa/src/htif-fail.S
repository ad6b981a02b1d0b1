#include "harness.h"
/* Fails on purpose, as a broken ISA test would: cases 2 and 3 pass, case 5
   checks a sum against a wrong value. vmrs must exit with the failing case's
   number: a runner that reported every program as passing would not see it.
   expect-exit: 5 */
TEST_BEGIN
  TEST_RR(2, add, 3, 1, 2)
  TEST_RR(3, sub, -1, 1, 2)
  TEST_RR(5, add, 4, 1, 2)
TEST_END
