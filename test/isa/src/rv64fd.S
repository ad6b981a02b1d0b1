#include "harness.h"
/* F and D: arithmetic and flags, canonical NaN, NaN-boxing, fmin/fmax with
   signed zeros, fcvt saturation, fclass, fused multiply-add, fsqrt,
   fmv sign extension, fsgnj, mstatus.FS. */
#define FLAGS_IS(n, v) li TESTNUM, n; csrr t0, fflags; li t6, v; bne t0, t6, fail; csrwi fflags, 0
#define FBITS_D(n, freg, v) li TESTNUM, n; fmv.x.d t0, freg; li t6, v; bne t0, t6, fail
#define FBITS_S(n, freg, v) li TESTNUM, n; fmv.x.w t0, freg; li t6, v; bne t0, t6, fail
#define LOAD_D(freg, v) li t0, v; fmv.d.x freg, t0
#define LOAD_S(freg, v) li t0, v; fmv.w.x freg, t0

TEST_BEGIN
  /* 1.5 + 2.25 = 3.75 exactly: no flags */
  LOAD_D(f1, 0x3ff8000000000000)
  LOAD_D(f2, 0x4002000000000000)
  fadd.d f3, f1, f2
  FBITS_D(2, f3, 0x400e000000000000)
  FLAGS_IS(3, 0)
  /* 1/3 is inexact */
  LOAD_D(f1, 0x3ff0000000000000)
  LOAD_D(f2, 0x4008000000000000)
  fdiv.d f3, f1, f2
  FBITS_D(4, f3, 0x3fd5555555555555)
  FLAGS_IS(5, 1)
  /* 1/0: divide by zero, +inf */
  fmv.d.x f2, zero
  fdiv.d f3, f1, f2
  FBITS_D(6, f3, 0x7ff0000000000000)
  FLAGS_IS(7, 8)
  /* 0/0: invalid, canonical NaN */
  fdiv.d f3, f2, f2
  FBITS_D(8, f3, 0x7ff8000000000000)
  FLAGS_IS(9, 16)
  /* overflow: max * 2 */
  LOAD_D(f1, 0x7fefffffffffffff)
  LOAD_D(f2, 0x4000000000000000)
  fmul.d f3, f1, f2
  FBITS_D(10, f3, 0x7ff0000000000000)
  FLAGS_IS(11, 5)
  /* sqrt(-1): invalid, canonical NaN; sqrt(4) = 2 exact */
  LOAD_D(f1, 0xbff0000000000000)
  fsqrt.d f3, f1
  FBITS_D(12, f3, 0x7ff8000000000000)
  FLAGS_IS(13, 16)
  LOAD_D(f1, 0x4010000000000000)
  fsqrt.d f3, f1
  FBITS_D(14, f3, 0x4000000000000000)
  FLAGS_IS(15, 0)
  /* single precision: 1 + 2^-24 rounds to 1 (inexact) */
  LOAD_S(f1, 0x3f800000)
  LOAD_S(f2, 0x33800000)
  fadd.s f3, f1, f2
  FBITS_S(16, f3, 0x3f800000)
  FLAGS_IS(17, 1)
  /* NaN boxing: a single whose upper half is not all ones reads as canonical NaN */
  LOAD_D(f1, 0x000000003f800000)
  fadd.s f3, f1, f1
  FBITS_S(18, f3, 0x7fc00000)
  csrwi fflags, 0
  /* flw boxes: the D view of a loaded single is 0xffffffff_xxxxxxxx */
  la s0, scratch
  li t0, 0x40490fdb
  sw t0, 0(s0)
  flw f4, 0(s0)
  FBITS_D(19, f4, 0xffffffff40490fdb)
  /* fmv.x.w sign-extends */
  LOAD_S(f1, 0xbf800000)
  FBITS_S(20, f1, 0xffffffffbf800000)
  /* fmin/fmax: -0 < +0; a quiet NaN loses; a signalling NaN raises NV */
  LOAD_D(f1, 0x8000000000000000)
  fmv.d.x f2, zero
  fmin.d f3, f1, f2
  FBITS_D(21, f3, 0x8000000000000000)
  fmax.d f3, f1, f2
  FBITS_D(22, f3, 0)
  LOAD_D(f1, 0x7ff8000000000000)
  LOAD_D(f2, 0x3ff0000000000000)
  fmin.d f3, f1, f2
  FBITS_D(23, f3, 0x3ff0000000000000)
  FLAGS_IS(24, 0)
  LOAD_D(f1, 0x7ff0000000000001)
  fmax.d f3, f1, f2
  FBITS_D(25, f3, 0x3ff0000000000000)
  FLAGS_IS(26, 16)
  /* fcvt saturation: NaN -> max, -inf -> min, 1e20 -> max; invalid */
  LOAD_D(f1, 0x7ff8000000000000)
  fcvt.w.d a1, f1, rtz
  CHECK(27, a1, 0x7fffffff)
  FLAGS_IS(28, 16)
  LOAD_D(f1, 0xfff0000000000000)
  fcvt.l.d a1, f1, rtz
  CHECK(29, a1, 0x8000000000000000)
  LOAD_D(f1, 0x444b1ae4d6e2ef50)   /* 1e21 */
  fcvt.lu.d a1, f1, rtz
  CHECK(30, a1, 0xffffffffffffffff)
  LOAD_D(f1, 0xbff0000000000000)
  fcvt.wu.d a1, f1, rtz
  CHECK(31, a1, 0)
  FLAGS_IS(32, 16)
  /* rounding modes on conversion: 2.5 */
  LOAD_D(f1, 0x4004000000000000)
  fcvt.w.d a1, f1, rne
  CHECK(33, a1, 2)
  fcvt.w.d a1, f1, rmm
  CHECK(34, a1, 3)
  fcvt.w.d a1, f1, rup
  CHECK(35, a1, 3)
  fcvt.w.d a1, f1, rdn
  CHECK(36, a1, 2)
  LOAD_D(f1, 0xc004000000000000)   /* -2.5 */
  fcvt.w.d a1, f1, rtz
  CHECK(37, a1, -2)
  fcvt.w.d a1, f1, rdn
  CHECK(38, a1, -3)
  FLAGS_IS(39, 1)
  /* int -> float */
  li a1, -7
  fcvt.d.l f3, a1
  FBITS_D(40, f3, 0xc01c000000000000)
  li a1, 0xffffffffffffffff
  fcvt.d.lu f3, a1
  FBITS_D(41, f3, 0x43f0000000000000)
  FLAGS_IS(42, 1)
  /* fclass */
  LOAD_D(f1, 0xfff0000000000000)
  fclass.d a1, f1
  CHECK(43, a1, 1)
  LOAD_D(f1, 0x8000000000000000)
  fclass.d a1, f1
  CHECK(44, a1, 8)
  LOAD_D(f1, 0x0000000000000001)
  fclass.d a1, f1
  CHECK(45, a1, 32)
  LOAD_D(f1, 0x7ff0000000000001)
  fclass.d a1, f1
  CHECK(46, a1, 256)
  LOAD_D(f1, 0x7ff8000000000000)
  fclass.d a1, f1
  CHECK(47, a1, 512)
  /* fused: (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; a separate mul would round to 0 */
  LOAD_D(f1, 0x3ff0000000400000)
  LOAD_D(f2, 0x3fefffffff800000)
  LOAD_D(f5, 0x3ff0000000000000)
  fmsub.d f3, f1, f2, f5
  FBITS_D(48, f3, 0xbc30000000000000)
  FLAGS_IS(49, 0)
  /* fsgnj family */
  LOAD_D(f1, 0x3ff0000000000000)
  LOAD_D(f2, 0x8000000000000000)
  fsgnj.d f3, f1, f2
  FBITS_D(50, f3, 0xbff0000000000000)
  fsgnjn.d f3, f1, f2
  FBITS_D(51, f3, 0x3ff0000000000000)
  fsgnjx.d f3, f2, f2
  FBITS_D(52, f3, 0)
  /* compares: flt with NaN raises NV, feq with qNaN does not */
  LOAD_D(f1, 0x7ff8000000000000)
  feq.d a1, f1, f1
  CHECK(53, a1, 0)
  FLAGS_IS(54, 0)
  flt.d a1, f1, f1
  FLAGS_IS(55, 16)
  /* fcvt.s.d rounds; fcvt.d.s is exact */
  LOAD_D(f1, 0x3fb999999999999a)   /* 0.1 */
  fcvt.s.d f3, f1
  FBITS_S(56, f3, 0x3dcccccd)
  FLAGS_IS(57, 1)
  /* directed rounding: 1 + 2^-53 is a tie between 1 and 1 + 2^-52 */
  LOAD_D(f1, 0x3ff0000000000000)
  LOAD_D(f2, 0x3ca0000000000000)
  fadd.d f3, f1, f2, rne
  FBITS_D(61, f3, 0x3ff0000000000000)
  fadd.d f3, f1, f2, rmm
  FBITS_D(62, f3, 0x3ff0000000000001)
  fadd.d f3, f1, f2, rup
  FBITS_D(63, f3, 0x3ff0000000000001)
  fadd.d f3, f1, f2, rdn
  FBITS_D(64, f3, 0x3ff0000000000000)
  fadd.d f3, f1, f2, rtz
  FBITS_D(65, f3, 0x3ff0000000000000)
  FLAGS_IS(66, 1)
  fneg.d f1, f1
  fneg.d f2, f2
  fadd.d f3, f1, f2, rdn
  FBITS_D(67, f3, 0xbff0000000000001)
  fadd.d f3, f1, f2, rup
  FBITS_D(68, f3, 0xbff0000000000000)
  fadd.d f3, f1, f2, rtz
  FBITS_D(69, f3, 0xbff0000000000000)
  /* 1/3 up and down; the dynamic mode comes from frm */
  LOAD_D(f1, 0x3ff0000000000000)
  LOAD_D(f2, 0x4008000000000000)
  fdiv.d f3, f1, f2, rup
  FBITS_D(70, f3, 0x3fd5555555555556)
  csrwi frm, 2
  fdiv.d f3, f1, f2
  FBITS_D(71, f3, 0x3fd5555555555555)
  csrwi frm, 0
  /* overflow toward zero gives the largest finite number */
  LOAD_D(f1, 0x7fefffffffffffff)
  LOAD_D(f2, 0x4000000000000000)
  fmul.d f3, f1, f2, rtz
  FBITS_D(72, f3, 0x7fefffffffffffff)
  FLAGS_IS(73, 5)
  /* single precision, up */
  LOAD_S(f1, 0x3f800000)
  LOAD_S(f2, 0x33800000)
  fadd.s f3, f1, f2, rup
  FBITS_S(74, f3, 0x3f800001)
  csrwi fflags, 0
  /* sqrt(2) down and up differ by one ulp */
  LOAD_D(f1, 0x4000000000000000)
  fsqrt.d f3, f1, rdn
  fsqrt.d f4, f1, rup
  fmv.x.d t0, f3
  fmv.x.d t1, f4
  sub t1, t1, t0
  CHECK(75, t1, 1)
  csrwi fflags, 0
  /* mstatus.FS: dirty after an F write; Off makes F instructions illegal */
  csrr a1, mstatus
  srli a1, a1, 13
  andi a1, a1, 3
  CHECK(58, a1, 3)
  SET_TRAP_HOOK(fs_off_handler)
  li t0, (3 << 13)
  csrc mstatus, t0
  li TESTNUM, 59
  fadd.d f3, f1, f1
  j fail
fs_off_handler:
  csrr t0, mcause
  CHECK(60, t0, 2)
  CLEAR_TRAP_HOOK
TEST_END
