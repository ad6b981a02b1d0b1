/**
 * An instruction count as a person writes it: a whole number, or one with a
 * suffix k, M or G as `--checkpoint-every` takes it (185M, 1.5G, 20k);
 * anything Number() reads as a whole number still goes (1e6, 0x1000).
 * undefined for anything else. Node-free: the CLI's options and GDB's
 * `monitor seek` read counts with it.
 */
export function instructionCount(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kMG])\s*$/.exec(text);
  if (m) {
    const n = Number(m[1]) * { k: 1e3, M: 1e6, G: 1e9 }[m[2] as 'k' | 'M' | 'G'];
    // 1.1k is 1100 only once the float product is rounded; 1.0005k is no whole number.
    const whole = Math.round(n);
    return Number.isSafeInteger(whole) && Math.abs(whole - n) < 1e-6 ? whole : undefined;
  }
  const n = text.trim() ? Number(text) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
