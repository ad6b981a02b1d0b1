/**
 * `import()` for the CLI's code: plugins and bullmq are loaded this way. In
 * the bundle (bin/vmrs runs it through V8's code cache, bundle-loader.ts) a
 * function that came from the cache has lost the callback Node needs for
 * `import()` ("A dynamic import callback was not specified", Node 20), so
 * the loader, an ordinary ES module, provides its own `import()` here.
 * Elsewhere (the compiled modules, tests) this module's own is used.
 */
type Importer = (specifier: string) => Promise<unknown>;

const HOST_IMPORT = Symbol.for('vmrs.dynamicImport');

export function dynamicImport<T>(specifier: string): Promise<T> {
  const host = (globalThis as Record<symbol, Importer | undefined>)[HOST_IMPORT];
  return (host ? host(specifier) : import(specifier)) as Promise<T>;
}

/** The loader's own import(), for the code it runs. */
export function provideDynamicImport(importer: Importer): void {
  (globalThis as Record<symbol, Importer | undefined>)[HOST_IMPORT] = importer;
}
