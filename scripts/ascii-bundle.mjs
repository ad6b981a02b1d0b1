#!/usr/bin/env node
// Make the CLI bundles pure ASCII: node scripts/ascii-bundle.mjs FILE...
// esbuild escapes non-ASCII characters in the code it writes (strings,
// templates, regular expressions, identifiers: --charset=ascii, its
// default) but keeps the comments it carries over as they are, and a
// single character above 0x7f there (an em dash, "§") makes V8 hold the
// whole 0.9 MB source as two-byte text: twice the memory to read, flatten
// and scan at every start. What is left above 0x7f is in comments, where a
// \uXXXX spelling changes nothing. `vmrs inspect --help` started in 165-171
// ms instead of 172-180 (15 runs each, twice).
/* global console, process */
import { readFileSync, writeFileSync } from 'node:fs';

for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  // Each UTF-16 unit on its own (a character above the BMP as its two halves, as in a string).
  const ascii = text.replace(
    /[^\x00-\x7f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  if (ascii !== text) writeFileSync(file, ascii);
}
