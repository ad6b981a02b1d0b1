/** What test/programs/tlb-observer.c must print, from the architecture rules alone (see src/cpu/cpu.ts). */
export const TLB_OBSERVER_EXPECTED = [
  'lrsc-no-store=200000', // nothing between LR and SC: every SC succeeds
  'lrsc-store-same-page=0', // any store of the hart ends the reservation
  'lrsc-store-other-page=0',
  'load-sets-A=200000', // a hart with no visible TLB walks, and sets A, on every access
  'store-sets-AD=200000',
  'sum=799999',
  'amo-young=50000',
  '',
].join('\n');
