/**
 * The expiry horizon of a repository's head (issue 17.4): per role, the
 * seconds until it expires and whether that is inside the operator's
 * warning horizon, so that `dagtuf status --json`, `/readyz` and `/metrics`
 * of `dagtuf serve` say the same thing. Pure functions over the head's
 * expiry times, plus `headStatus`, which loads the head's DAG and checks it
 * (VALID, once per head: the caller caches by timestamp CID).
 */
import type { BlockSource } from '../blocks/types.js'
import { DagtufError, RepoError } from '../model/errors.js'
import { TOP_ROLES } from '../model/types.js'
import { sourceLoader } from '../validate/loader.js'
import { assertValidTimestamp } from '../validate/valid.js'
import type { ExpiryRole, HeadRecord } from './files.js'
import type { Repo } from './repo.js'
import { loadCurrent, loadPublished, type Published } from './state.js'

/** The default warning horizon: a week before a role expires. */
export const DEFAULT_EXPIRY_WARNING_SECONDS = 7 * 86400

export interface RoleHorizon {
  readonly role: string
  readonly expires: string
  /** This role's horizon in seconds: the warning horizon, or a quarter of its expiry period when shorter. */
  readonly horizon: number
  /** Whole seconds until it expires (negative once expired). */
  readonly seconds: number
  /** Inside the warning horizon (or expired). */
  readonly warn: boolean
  readonly expired: boolean
}

export interface Horizon {
  readonly warningSeconds: number
  readonly roles: RoleHorizon[]
  /** The roles that warn, soonest first. */
  readonly warnings: string[]
}

/**
 * Per role (top roles first, then delegated ones by name), the seconds left
 * before `expires` at `now`, and `warn` when fewer than its horizon:
 * `warningSeconds`, or a quarter of the role's expiry period (`periods`,
 * config.json) when that is shorter. A role re-signed every day (the
 * timestamp, by `serve --online-keys` at half its period) is never a week
 * from expiry; it warns once a quarter of its period is left, i.e. when its
 * re-signing has been failing for a quarter period.
 */
export function horizonOf (expires: Readonly<Record<string, string>>, now: Date, warningSeconds: number, periods?: Readonly<Record<ExpiryRole, number>>): Horizon {
  const names = Object.keys(expires)
  const top = TOP_ROLES.filter((r) => names.includes(r))
  const rest = names.filter((n) => !(TOP_ROLES as readonly string[]).includes(n)).sort()
  const roles = [...top, ...rest].map((role): RoleHorizon => {
    const seconds = Math.floor((Date.parse(expires[role]!) - now.getTime()) / 1000)
    const period = periods?.[(TOP_ROLES as readonly string[]).includes(role) ? role as ExpiryRole : 'delegated']
    const horizon = period === undefined ? warningSeconds : Math.min(warningSeconds, Math.floor(period / 4))
    return { role, expires: expires[role]!, horizon, seconds, warn: seconds < horizon, expired: seconds <= 0 }
  })
  const warnings = roles.filter((r) => r.warn).sort((a, b) => a.seconds - b.seconds).map((r) => r.role)
  return { warningSeconds, roles, warnings }
}

export interface HeadStatus {
  readonly head: string
  /** When head.json says it was published. */
  readonly published: string
  /** Expiry per role of the head's DAG. */
  readonly expires: Record<string, string>
  /** The expiry periods of config.json (each role's horizon is at most a quarter of its period). */
  readonly periods?: Readonly<Record<ExpiryRole, number>>
  /** The head's DAG is VALID (NOTES 4). */
  readonly verified: boolean
  /** Why not, when it is not. */
  readonly error?: { code: string, message: string }
}

/**
 * Load the head of `repo` from `node` and check it: VALID of its timestamp
 * over the node's blocks. A repository without a head, or whose head does
 * not load, is reported (verified false), not thrown.
 */
export async function headStatus (repo: Repo, node: BlockSource): Promise<HeadStatus | undefined> {
  let head
  try {
    head = await repo.head()
  } catch {
    return undefined
  }
  // Without config.json's periods each role's horizon is the warning horizon alone.
  const periods = await repo.config().then((c) => c.expiry, () => undefined)
  return await statusOf(head, node, periods, async () => (await loadCurrent(repo, node)).published)
}

/**
 * The same for a head record kept elsewhere (the Redis backend), its DAG read
 * from `source`: a DAG that cannot be loaded, or does not match the record,
 * is ERR_REPO_CORRUPT as loadCurrent says for head.json.
 */
export async function headStatusAt (head: HeadRecord, source: BlockSource, periods?: Readonly<Record<ExpiryRole, number>>): Promise<HeadStatus> {
  return await statusOf(head, source, periods, async () => {
    let p: Published
    try {
      p = await loadPublished(sourceLoader(source), head.timestamp)
    } catch (cause) {
      throw new RepoError('ERR_REPO_CORRUPT', 'the head\'s DAG cannot be loaded', { cause, details: { timestamp: head.timestamp.toString() } })
    }
    if (!p.snapshot.cid.equals(head.snapshot)) throw new RepoError('ERR_REPO_CORRUPT', 'the head record does not match the DAG of its timestamp', { details: { timestamp: head.timestamp.toString() } })
    return p
  })
}

async function statusOf (head: Pick<HeadRecord, 'timestamp' | 'published'>, source: BlockSource, periods: Readonly<Record<ExpiryRole, number>> | undefined, load: () => Promise<Published>): Promise<HeadStatus> {
  try {
    const p = await load()
    const expires: Record<string, string> = {
      root: p.root.signed.expires, targets: p.targets.signed.expires, snapshot: p.snapshot.signed.expires, timestamp: p.timestamp.signed.expires
    }
    for (const [n, e] of p.delegated) expires[n] = e.signed.expires
    await assertValidTimestamp(sourceLoader(source), head.timestamp)
    return { head: head.timestamp.toString(), published: head.published, expires, ...(periods !== undefined ? { periods } : {}), verified: true }
  } catch (e) {
    if (!(e instanceof DagtufError)) throw e
    return { head: head.timestamp.toString(), published: head.published, expires: {}, verified: false, error: { code: e.code, message: e.message } }
  }
}
