/**
 * vitest globalSetup: build dist/ once, before any test file runs, for the
 * tests that run the CLI in child processes. Building from several test files
 * at once raced (one file's tsc rewrote dist/ while another's child process
 * loaded it); here it happens exactly once per run.
 */
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'

export default async function setup (): Promise<void> {
  const root = resolve(import.meta.dirname, '..')
  // tsc emits even when a file has type errors; `npm test` type-checks first.
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch(() => {})
  // bin/dagtuf.js runs the bundle of the CLI (scripts/build-cli.mjs); a build that fails is a failure here.
  await promisify(execFile)(process.execPath, [resolve(root, 'scripts', 'build-cli.mjs')], { cwd: root })
  // bin/dagtuf runs the client commands from the start-up snapshot (scripts/build-snapshot.mjs): strict here.
  await promisify(execFile)(process.execPath, [resolve(root, 'scripts', 'build-snapshot.mjs')], { cwd: root })
}
