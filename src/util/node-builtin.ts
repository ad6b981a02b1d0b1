/**
 * A Node built-in module, reached without an import (`process.getBuiltinModule`,
 * Node 20.16 and later), so that code also bundled for browsers can use it
 * where it exists: undefined in a browser or on older Node.
 */
export function nodeBuiltin<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(id) as T | undefined;
}
