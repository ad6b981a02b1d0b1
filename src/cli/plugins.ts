/**
 * `--plugin FILE[,ARG…]`: load each plugin module (an ES module whose
 * default export is the plugin's main function, see src/plugin/plugin-api.ts)
 * into a PluginHost for this machine.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { VirtMachine } from '../machine/virt.js';
import type { PluginMain } from '../plugin/plugin-api.js';
import { PluginHost } from '../plugin/plugin-host.js';
import { UsageError } from './options.js';
import { dynamicImport } from '../host/dynamic-import.js';

export async function loadPlugins(
  specs: readonly string[],
  vm: VirtMachine,
  print: (line: string) => void,
): Promise<PluginHost> {
  const host = new PluginHost(vm, print);
  for (const spec of specs) {
    const [file, ...args] = spec.split(',');
    const path = resolve(file);
    if (!existsSync(path)) throw new UsageError(`--plugin ${file}: no such file`);
    let mod: { default?: unknown };
    try {
      mod = await dynamicImport<{ default?: unknown }>(pathToFileURL(path).href);
    } catch (e) {
      throw new UsageError(`--plugin ${file}: cannot load it: ${(e as Error).message}`);
    }
    if (typeof mod.default !== 'function')
      throw new UsageError(
        `--plugin ${file}: its default export must be a function (export default function (vmrs) { … })`,
      );
    try {
      await host.add(basename(file), mod.default as PluginMain, args);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return host;
}
