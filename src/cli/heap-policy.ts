/**
 * Whether a client command asks V8 for the frugal heap (src/client/heap.ts).
 *
 * The flags trade speed for memory, and both sides are measured: a
 * 10,000-snapshot catch-up peaks lower with them (bench:catchup --process),
 * and every process that sets them pays for it at once, because V8 then
 * refuses the code cache of every built-in module loaded afterwards (its
 * flag hash changed): node:http alone took 4.7-5.2 ms to load in a start-up
 * snapshot with the flags set at run time, 1.6-2.1 ms without
 * (2026-11-30). What they save only matters when an update walks a chain of
 * snapshots; two kinds of client command cannot:
 * - `client init` (it fetches and checks one root);
 * - any command on a client folder whose trusted state holds no snapshot
 *   yet (`"trusted": null` in its state.json, written by init): its update
 *   is a first update, which checks the head's DAG and the root chain
 *   (at most 32 steps by default, BOUND-ROOT-STEPS) but no snapshot chain.
 * Everything else asks for the flags, and so does anything this function
 * cannot read for certain (no `--dir`, an unreadable or odd state file):
 * the answer only chooses heap settings, never what is checked.
 */
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** A state.json larger than this is not read here (the client's own bound is far smaller). */
const MAX_STATE_BYTES = 1 << 20

/** The value of `--dir` in ARGV (`--dir D` or `--dir=D`), if given once. */
function dirOf (argv: readonly string[]): string | undefined {
  const found: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a === '--dir' && argv[i + 1] !== undefined) found.push(argv[i + 1]!)
    else if (a.startsWith('--dir=')) found.push(a.slice('--dir='.length))
  }
  return found.length === 1 && found[0] !== '' ? found[0] : undefined
}

/** Whether the client folder DIR trusts a root and no snapshot yet (false when unsure). */
function trustsNoSnapshot (dir: string): boolean {
  try {
    const file = join(dir, 'state.json')
    if (statSync(file).size > MAX_STATE_BYTES) return false
    const state = JSON.parse(readFileSync(file, 'utf8')) as unknown
    return typeof state === 'object' && state !== null && 'trusted' in state && (state as { trusted: unknown }).trusted === null
  } catch {
    return false
  }
}

/** Whether `dagtuf ARGV` (a `client` command; ARGV without `dagtuf`) should run with the frugal heap. */
export function clientWantsFrugalHeap (argv: readonly string[]): boolean {
  const rest = argv[0] === '--json' ? argv.slice(1) : argv
  if (rest[0] !== 'client') return false
  if (rest[1] === 'init') return false
  const dir = dirOf(rest)
  return dir === undefined || !trustsNoSnapshot(dir)
}
