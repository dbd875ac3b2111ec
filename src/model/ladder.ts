/**
 * A snapshot's place on its chain (NOTES 5.3, SUCC-SNAP-SKIPS): the heights
 * of the ancestors its `skips` link to, and the links a successor must
 * carry, computed from its predecessor alone.
 *
 * `ladder(h)`: h - 1 with its lowest set bits cleared one at a time, in
 * decreasing order, without h - 1 itself and without 0. Its length is the
 * number of one bits of h - 1, less one (0 for h <= 2), at most 52.
 */
import type { CID } from 'multiformats/cid'
import { UsageError } from './errors.js'

/** Largest number of skips a snapshot can carry (a height is below 2^53). */
export const MAX_SKIPS = 52

function checkHeight (h: number): void {
  if (!Number.isSafeInteger(h) || h < 1) throw new UsageError('ERR_ARGUMENT', `a snapshot height is a positive safe integer, got ${String(h)}`)
}

/** The heights of the ancestors a snapshot at height `h` links to in `skips`, highest first. */
export function ladder (h: number): number[] {
  checkHeight(h)
  const out: number[] = []
  // Safe integers go past 2^31, so no bitwise operators: clear the lowest set bit by arithmetic.
  let b = h - 1
  for (let bit = 1; b > 0; bit *= 2) {
    if (b % (bit * 2) !== 0) {
      b -= bit
      if (b > 0) out.push(b)
    }
  }
  return out
}

/** What a successor needs of its predecessor: its CID, height, previous-version and skips. */
export interface ChainPlace {
  readonly cid: CID
  readonly height: number
  readonly previousVersion: CID | null
  readonly skips: readonly CID[]
}

/**
 * `rung(B, g)`: the link B holds to its ancestor at height g (its
 * previous-version at B.height - 1, else the skip at g), or undefined when
 * B holds none (g is not B.height - 1 nor in ladder(B.height), or B's lists
 * are malformed).
 */
export function rung (b: ChainPlace, g: number): CID | undefined {
  if (g === b.height - 1) return b.previousVersion ?? undefined
  const i = ladder(b.height).indexOf(g)
  return i < 0 ? undefined : b.skips[i]
}

/**
 * The height and skips of the snapshot that succeeds `prev` (SUCC-SNAP-HEIGHT,
 * SUCC-SNAP-SKIPS), or of a first snapshot when `prev` is null.
 *
 * @throws {UsageError} ERR_ARGUMENT when prev's own skips do not hold a needed link
 */
export function successorPlace (prev: ChainPlace | null): { height: number, skips: CID[] } {
  if (prev === null) return { height: 1, skips: [] }
  const height = prev.height + 1
  const skips = ladder(height).map((g) => {
    const l = rung(prev, g)
    if (l === undefined) throw new UsageError('ERR_ARGUMENT', `snapshot ${prev.cid} holds no link to its ancestor at height ${g}`)
    return l
  })
  return { height, skips }
}
