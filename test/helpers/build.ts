/**
 * The built CLI for tests that run it in child processes. dist/ is built once
 * per vitest run by test/global-setup.ts; `ensureBuilt()` only checks that
 * the build is there, so a missing build fails loudly instead of racing.
 */
import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin', 'dagtuf.js')

export async function ensureBuilt (): Promise<void> {
  await stat(join(ROOT, 'dist', 'src', 'cli', 'main.js'))
  // What bin/dagtuf.js runs (scripts/build-cli.mjs).
  await stat(join(ROOT, 'dist', 'cli', 'dagtuf.js'))
}
