/**
 * What `makeSnapshot` needs to succeed the snapshot `cid`, for the test
 * builders (DagBuilder, RepoSim): its signed object when the builder signed
 * it; a predecessor whose place is malformed (a forged chain) is succeeded as
 * well as it allows, a rung it lacks replaced by its own CID; a CID made up
 * by a test gets a previous-version link at height 2 with no skips, which is
 * well formed on its own.
 */
import type { CID } from 'multiformats/cid'
import type { makeSnapshot } from '../../src/model/build.js'
import { ladder, rung } from '../../src/model/ladder.js'
import type { SnapshotSigned } from '../../src/model/types.js'

export type PreviousFields = Pick<Parameters<typeof makeSnapshot>[0], 'previous' | 'override'>

export function previousFields (cid: CID | null, signed: SnapshotSigned | undefined): PreviousFields {
  if (cid === null) return { previous: null }
  if (signed === undefined) return { override: { previousVersion: cid, height: 2, skips: [] } }
  const place = { cid, height: signed.height, previousVersion: signed.previousVersion, skips: signed.skips }
  const h = Number.isSafeInteger(signed.height) && signed.height >= 1 ? signed.height + 1 : 2
  return { previous: { cid, signed }, override: { previousVersion: cid, height: h, skips: ladder(h).map((g) => rung(place, g) ?? cid) } }
}
