/**
 * Waiting for a condition instead of sleeping a fixed time: a test goes on
 * as soon as what it waits for has happened, and fails saying what did not
 * happen if it never does. `limitMs` is a safety net, not a timing assertion.
 */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  limitMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting (${limitMs} ms) for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 5));
  }
}
