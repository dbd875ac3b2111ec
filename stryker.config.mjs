// Mutation testing (issue 10 item 7): `npm run mutate`. Not part of `npm test` or CI.
// Mutates the rule logic (VALID, the successor relations and the client's
// TrustedState) and runs only the tests that speak about it, one process at a time.
// The score and what was covered are recorded in README.md ("Mutation testing").
//
// A whole run takes hours on a shared 2-core machine: run one file (or a line
// range) at a time, e.g. `nice npm run mutate -- --mutate src/validate/threshold.ts`.
// Each target gets its own incremental file and reports (named after the
// file, or file and lines), so one target's run neither drops nor reuses
// another's verdicts.
//
// The tests run under vitest.stryker.config.ts: cheapest files first (a mutant
// stops at its first failing test), no dist/ build, and every property at
// most DAGTUF_PROPERTY_RUNS (default 2) cases on DAGTUF_SEED (default 4004).

/** The `--mutate` argument of this run, if any, as a file-name-safe tag. */
function targetTag () {
  const i = process.argv.indexOf('--mutate')
  const m = i >= 0 ? process.argv[i + 1] : undefined
  if (m === undefined || m.includes(',')) return 'all'
  return m.replace(/^src\//, '').replace(/\.ts/, '').replace(/[^A-Za-z0-9-]+/g, '-')
}
const tag = targetTag()

// The vitest config's sequencer runs the test files named after the mutated
// file first (test/validate/loader.test.ts for src/validate/loader.ts): they
// are the ones that usually kill, and a mutant stops at its first failure.
// Stryker's test runner processes inherit this.
{
  const i = process.argv.indexOf('--mutate')
  const m = i >= 0 ? process.argv[i + 1] : undefined
  if (m !== undefined && process.env.DAGTUF_MUTATE_TARGET === undefined) process.env.DAGTUF_MUTATE_TARGET = m
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.stryker.config.ts', related: false },
  mutate: [
    'src/validate/**/*.ts',
    'src/relations/**/*.ts',
    'src/client/trusted-state.ts'
  ],
  // perTest coverage: each mutant runs only the tests that reach it. By
  // default only the unit tests of the mutated code (test/validate,
  // test/relations, test/client): the glob matching and VALID are reached by
  // every e2e and property test, so a surviving mutant reran all of them
  // (about 20 s a mutant on the shared machine, against under 1 s with the
  // unit tests alone). A mutant these tests miss is a gap in the unit tests,
  // which is what the score is for. DAGTUF_MUTATE_TESTS=all adds the e2e files
  // about TrustedState and the relations (floors, recovery, attacks) and the
  // law and attack properties; the search's e2e tests are never here
  // (test/validate/delegation.test.ts reaches the same code).
  testFiles: [
    'test/validate/*.test.ts',
    'test/relations/*.test.ts',
    'test/client/*.test.ts',
    ...(process.env.DAGTUF_MUTATE_TESTS === 'all'
      ? [
          'test/property/laws.test.ts',
          'test/property/attacks.test.ts',
          'test/e2e/attacks.test.ts',
          'test/e2e/recovery.test.ts',
          'test/e2e/floors.test.ts',
          'test/e2e/first-snapshot.test.ts'
        ]
      : [])
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants) would need every test per mutant.
  ignoreStatic: true,
  concurrency: 1,
  // A timeout costs this much on top of 1.5 x the tests' dry-run time, and a
  // restart of the test runner; infinite-loop mutants are common in the glob
  // matching.
  timeoutMS: 15000,
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${tag}.json`,
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${tag}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${tag}/mutation.json` },
  thresholds: { high: 90, low: 80, break: null }
}
