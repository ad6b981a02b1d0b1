/** The default guest's cache: keyed by the recipe's digest, only completed builds count. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCachedGuest, recipeDigest } from '../../src/host/default-guest.js';

function fakeRecipe(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmrs-recipe-'));
  writeFileSync(join(dir, 'build.sh'), '#!/bin/sh\n');
  writeFileSync(join(dir, 'kernel.config'), 'CONFIG_A=y\n');
  return dir;
}

test('the recipe digest changes with any recipe file and only then', () => {
  const r = fakeRecipe();
  const d1 = recipeDigest(r);
  assert.equal(recipeDigest(r), d1);
  writeFileSync(join(r, 'kernel.config'), 'CONFIG_A=n\n');
  const d2 = recipeDigest(r);
  assert.notEqual(d2, d1);
  writeFileSync(join(r, 'extra'), '');
  assert.notEqual(recipeDigest(r), d2);
});

test('a cached build is found only when complete', () => {
  const r = fakeRecipe();
  const cache = mkdtempSync(join(tmpdir(), 'vmrs-cache-'));
  const dir = join(cache, 'guests', `default-${recipeDigest(r).slice(0, 16)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Image'), 'k');
  writeFileSync(join(dir, 'initramfs.cpio.gz'), 'i');
  assert.equal(findCachedGuest(r, cache), undefined, 'no completion marker: incomplete');
  writeFileSync(join(dir, 'vmrs-guest-complete'), 'x\n');
  const g = findCachedGuest(r, cache);
  assert.ok(g);
  assert.equal(g.kernel, join(dir, 'Image'));
  // a different recipe does not see it
  writeFileSync(join(r, 'kernel.config'), 'CONFIG_B=y\n');
  assert.equal(findCachedGuest(r, cache), undefined);
});
