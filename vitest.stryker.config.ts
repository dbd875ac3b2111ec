/**
 * The vitest configuration of `npm run mutate` (stryker.config.mjs), not of
 * `npm test`. Each mutant reruns every test that reached it in the dry run,
 * so what matters here is the cost of one mutant:
 *
 * - Test files run in the order most likely to kill cheaply: those named
 *   after the mutated file (DAGTUF_MUTATE_TARGET, set by stryker.config.mjs
 *   from --mutate), then unit tests, then the e2e files, then the property
 *   files: Stryker stops a mutant at its first failing test (bail), and
 *   vitest's own order runs the slowest files first.
 * - No globalSetup: it builds dist/ for the CLI tests (about 20 s), which
 *   none of the files Stryker runs needs, and it ran again whenever Stryker
 *   restarted a test runner after a timeout.
 * - Property tests run at most DAGTUF_PROPERTY_RUNS cases each (default
 *   here 2, test/helpers/seed.ts) on a fixed DAGTUF_SEED (default 4004), so
 *   the dry run's coverage and every mutant's run see the same histories and
 *   a verdict can be reproduced. Either can be overridden from the shell.
 * - DAGTUF_MUTATION=1: the few tests whose point is the cost of hundreds of
 *   millions of glob steps skip themselves (instrumented, each step costs
 *   tens of times more); small twins reach the same code.
 */
import { defineConfig } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

/**
 * The stems of the source files being mutated (`npm run mutate -- --mutate
 * src/validate/loader.ts:10-20` gives `loader`; an `index.ts` gives its
 * folder's name): test files whose name contains one run first.
 */
const stems = (process.env.DAGTUF_MUTATE_TARGET ?? '').split(',').map((m) => {
  const parts = m.replace(/:.*$/, '').replace(/\.ts$/, '').split('/')
  const last = parts.pop() ?? ''
  return last === 'index' ? (parts.pop() ?? '') : last
}).filter((s) => s !== '')

/** Where a test file runs: lower first; ties by path. */
function rank (path: string): number {
  const file = path.slice(path.lastIndexOf('/test/'))
  if (stems.some((s) => file.includes(s))) return -1
  if (path.includes('/test/property/')) return 3
  if (path.includes('/test/e2e/')) return 2
  if (path.endsWith('/bound-glob.test.ts')) return 1 // one test of about 4 s
  return 0
}

class CheapFirst extends BaseSequencer {
  override async sort (files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => rank(a.moduleId) - rank(b.moduleId) || (a.moduleId < b.moduleId ? -1 : a.moduleId > b.moduleId ? 1 : 0))
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./src/polyfill.ts'],
    // DAGTUF_MUTATE_TEST_TIMEOUT: a lower per-test timeout for a target whose
    // mutants hang (src/validate/loader.ts: its semaphore). A hanging test
    // then fails in that time instead of waiting for Stryker's own timeout
    // (1.5 x every covering test's time + timeoutMS, then a restart of the
    // runner); the README says what was set and checks the margin.
    testTimeout: Number(process.env.DAGTUF_MUTATE_TEST_TIMEOUT ?? 60_000),
    hookTimeout: 60_000,
    env: {
      // Tests whose point is the cost of a huge number of steps skip themselves (test/validate/bound-glob.test.ts).
      DAGTUF_MUTATION: '1',
      DAGTUF_PROPERTY_RUNS: process.env.DAGTUF_PROPERTY_RUNS ?? '2',
      DAGTUF_SEED: process.env.DAGTUF_SEED ?? '4004'
    },
    sequence: { sequencer: CheapFirst }
  }
})
