export async function ensureDefaultGuest(_o: { log?: (s: string) => void }): Promise<{ kernel: string; initrd: string; vmlinux: string; dir: string }> { throw new Error('default guest: not yet'); }
