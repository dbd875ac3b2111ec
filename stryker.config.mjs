// Mutation testing (issue 10 item 7): `npm run mutate`. Not part of `npm test` or CI.
// Mutates the rule logic (VALID, the successor relations and the client's
// TrustedState) and runs only the tests that speak about it, one process at a time.
// The score and what was covered are recorded in README.md ("Mutation testing").
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.config.ts', related: false },
  mutate: [
    'src/validate/**/*.ts',
    'src/relations/**/*.ts',
    'src/client/trusted-state.ts'
  ],
  testFiles: [
    'test/validate/*.test.ts',
    'test/relations/*.test.ts',
    'test/client/*.test.ts',
    'test/property/laws.test.ts',
    'test/property/attacks.test.ts',
    'test/e2e/attacks.test.ts',
    'test/e2e/recovery.test.ts',
    'test/e2e/floors.test.ts',
    'test/e2e/first-snapshot.test.ts'
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants) would need every test per mutant.
  ignoreStatic: true,
  concurrency: 1,
  timeoutMS: 30000,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null }
}
