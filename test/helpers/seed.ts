/**
 * The one seed and the one run-count switch of the property tests.
 *
 * - `SEED` varies per run (a fresh random 31-bit number for each test file)
 *   unless `DAGTUF_SEED` fixes it, so runs explore different inputs while a
 *   failure stays reproducible: fast-check's failure message names the seed,
 *   and a failing test also prints `DAGTUF_SEED=<n>` for its file.
 * - `DEEP` is true when `DAGTUF_DEEP` is set to anything but '', '0' or
 *   'false'; `propertyRuns(n)` then runs ten times as many cases.
 * - `DAGTUF_PROPERTY_RUNS=k` (a positive integer) caps every property at k
 *   cases. It is for mutation testing (`npm run mutate` sets it), where each
 *   mutant reruns every property that reaches it; `npm test` leaves it unset.
 *   The distribution floors of test/property/distribution.test.ts are not
 *   meant to hold on so few samples.
 *
 * `npm run test:deep` (test/deep.mjs) runs the property suite on many seeds.
 */
import { randomInt } from 'node:crypto'
import fc from 'fast-check'
import { beforeEach } from 'vitest'

function seedFromEnv (text: string | undefined): number {
  if (text === undefined || text.trim() === '') return randomInt(0, 0x80000000)
  const n = Number(text.trim())
  if (!Number.isSafeInteger(n)) throw new Error(`DAGTUF_SEED must be an integer, got ${JSON.stringify(text)}`)
  return n | 0
}

function deepFromEnv (text: string | undefined): boolean {
  if (text === undefined) return false
  const t = text.trim().toLowerCase()
  return t !== '' && t !== '0' && t !== 'false'
}

/** The fast-check seed of every property in this test file. */
export const SEED: number = seedFromEnv(process.env.DAGTUF_SEED)

function capFromEnv (text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const n = Number(text.trim())
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`DAGTUF_PROPERTY_RUNS must be a positive integer, got ${JSON.stringify(text)}`)
  return n
}

/** The most cases any property runs (DAGTUF_PROPERTY_RUNS), or undefined for no cap. */
export const RUNS_CAP: number | undefined = capFromEnv(process.env.DAGTUF_PROPERTY_RUNS)

/** True under DAGTUF_DEEP (anything but unset, '', '0', 'false'). */
export const DEEP: boolean = deepFromEnv(process.env.DAGTUF_DEEP)

/** How many more cases each property runs under DAGTUF_DEEP. */
export const DEEP_FACTOR = 10

/** The number of cases for a property that runs `n` by default (x10 under DAGTUF_DEEP, at most DAGTUF_PROPERTY_RUNS). */
export function runCount (n: number): number {
  const runs = DEEP ? n * DEEP_FACTOR : n
  return RUNS_CAP === undefined ? runs : Math.min(runs, RUNS_CAP)
}

/** fast-check parameters: this run's seed, `n` cases (x10 under DAGTUF_DEEP), stop at the first failure. */
export function propertyRuns (n: number): { seed: number, numRuns: number, endOnFailure: boolean } {
  return { seed: SEED, numRuns: runCount(n), endOnFailure: true }
}

// Properties that pass no seed of their own use this one too.
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: SEED })

// A failing test prints the seed of its file, whatever failed inside it.
beforeEach(({ onTestFailed, task }) => {
  onTestFailed(() => {
    console.error(`[seed] ${task.name} failed; its file ran with DAGTUF_SEED=${SEED}${DEEP ? ' DAGTUF_DEEP=1' : ''}${RUNS_CAP !== undefined ? ` DAGTUF_PROPERTY_RUNS=${RUNS_CAP}` : ''}`)
  })
})
