/** The CPU unit tests' instruction encoders: the ones vmrs itself uses (src/cpu/encode.ts). */
export * from '../../src/cpu/encode.js';
