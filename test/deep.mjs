#!/usr/bin/env node
/**
 * `npm run test:deep`: the property suites (test/property and test/model) on
 * many seeds, one vitest run per seed, each with DAGTUF_DEEP=1 (ten times as
 * many cases; see test/helpers/seed.ts).
 *
 *   DAGTUF_SEEDS=N   how many random seeds (default 10)
 *   DAGTUF_SEED=S    run that one seed only (replay a failure)
 *   DAGTUF_DEEP=0    the default number of cases per seed (a quick sweep)
 *   npm run test:deep -- test/property/model.test.ts   only these files
 *
 * Prints the seed of every run and, at the end, the seeds that failed.
 */
import { spawnSync } from 'node:child_process'
import { randomInt } from 'node:crypto'

const fixed = process.env.DAGTUF_SEED?.trim() || undefined
const count = fixed !== undefined ? 1 : Number(process.env.DAGTUF_SEEDS ?? 10)
if (!Number.isSafeInteger(count) || count < 1) {
  console.error(`DAGTUF_SEEDS must be a positive integer, got ${process.env.DAGTUF_SEEDS}`)
  process.exit(2)
}
const deep = process.env.DAGTUF_DEEP ?? '1'
const files = process.argv.slice(2)
const targets = files.length > 0 ? files : ['test/property', 'test/model']

const seen = new Set()
const failed = []
for (let i = 0; i < count; i++) {
  let seed = fixed
  while (seed === undefined || (fixed === undefined && seen.has(seed))) seed = String(randomInt(0, 0x80000000))
  seen.add(seed)
  console.log(`\n[test:deep] run ${i + 1}/${count}: DAGTUF_SEED=${seed} DAGTUF_DEEP=${deep} ${targets.join(' ')}`)
  const r = spawnSync('npx', ['vitest', 'run', ...targets], { stdio: 'inherit', env: { ...process.env, DAGTUF_SEED: seed, DAGTUF_DEEP: deep } })
  if (r.status !== 0) failed.push(seed)
}
console.log(`\n[test:deep] ${count - failed.length}/${count} seeds passed${failed.length > 0 ? `; failed: ${failed.map((s) => `DAGTUF_SEED=${s}`).join(', ')}` : ''}`)
process.exit(failed.length > 0 ? 1 : 0)
