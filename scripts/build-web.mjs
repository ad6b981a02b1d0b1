#!/usr/bin/env node
// Build the web app into dist/web/: the page (src/web/app.ts), the replay worker
// (src/web/replay-worker.ts), the live machine's worker (src/web/live-worker.ts),
// index.html, app.css and xterm.js's stylesheet.
// Fails when anything pulls in a Node builtin: the core must stay Node-free.
/* global console, performance, process */
import { build } from 'esbuild';
import { builtinModules, createRequire } from 'node:module';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web');
const require = createRequire(join(root, 'package.json'));

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Every import of a Node builtin is an error that names the file importing it. */
const noNodeBuiltins = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const base = args.path.startsWith('node:') ? args.path : args.path.split('/')[0];
      if (!builtins.has(args.path) && !builtins.has(base)) return undefined;
      return {
        errors: [
          {
            text: `Node builtin '${args.path}' imported by ${relative(root, args.importer)}: the web build must stay Node-free`,
          },
        ],
      };
    });
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const t0 = performance.now();
let result;
try {
  result = await build({
    absWorkingDir: root,
    entryPoints: {
      app: 'src/web/app.ts',
      'replay-worker': 'src/web/replay-worker.ts',
      'live-worker': 'src/web/live-worker.ts',
    },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify: process.argv.includes('--minify'),
    metafile: true,
    logLevel: 'warning',
    plugins: [noNodeBuiltins],
  });
} catch {
  // esbuild has printed the errors.
  console.error('build-web: failed');
  process.exit(1);
}
if (result.errors.length) process.exit(1);

copyFileSync(join(root, 'web/index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'web/app.css'), join(out, 'app.css'));
let xtermCss;
try {
  xtermCss = require.resolve('@xterm/xterm/css/xterm.css');
} catch {
  console.error('build-web: @xterm/xterm is not installed (npm install @xterm/xterm)');
  process.exit(1);
}
copyFileSync(xtermCss, join(out, 'xterm.css'));

const sizes = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.js'))
  .map(([f, o]) => `${relative(root, f)} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(`build-web: ${sizes.join(', ')} (${(performance.now() - t0).toFixed(0)} ms)`);
