/**
 * `dagtuf verify` — for researchers: check a timestamp's DAG read from a CAR
 * file, without any trusted state.
 *
 * - VALID of the timestamp's DAG in report mode (every violation, each with
 *   its rule ID and the CID at fault);
 * - with `--trusted CID`, whether the timestamp descends from the trusted
 *   one (`<-*`, SUCC-TS-SNAPSHOT), with the witness chain of snapshot CIDs;
 * - with `--now ISO`, the newest root, timestamp, snapshot and top-level
 *   targets that are not fresh at that time, as CLIENT-EXPIRES violations.
 *
 * `--json` prints `{ valid, violations: [{rule, cid, message}], descends,
 * witness }`: `valid` is VALID and every node of the top-level targets map
 * well formed (SHARD-*; VALID itself does not read that map), time-independent, `violations` lists
 * everything that failed, `descends` is null without `--trusted`. Exit 0
 * only when everything asked holds, 1 otherwise, 2 on usage errors. Every
 * block of the CAR is hash-checked while it is read (readCar).
 */
import { cidArg, str, type Parsed } from '../args.js'
import type { Command, Io } from '../command.js'
import { indexCar, type IndexedCarSource } from '../../blocks/car.js'
import { ShardReader, targetsCodec } from '../../shard/index.js'
import { ruleOfLoadError } from '../../validate/report.js'
import { UsageError } from '../../model/errors.js'
import type { Envelope } from '../../model/types.js'
import { succStar } from '../../relations/index.js'
import { sourceLoader, type Loader } from '../../validate/loader.js'
import { validateTimestamp, type Violation } from '../../validate/valid.js'
import type { CID } from 'multiformats/cid'

function cidOption (args: Parsed, name: string): CID {
  const cid = cidArg(args, name)
  if (cid === undefined) throw new UsageError('ERR_USAGE', `verify needs --${name} CID`)
  return cid
}

/** `YYYY-MM-DDTHH:MM:SSZ` of an ISO date, truncated to the second (as `expires` compares). */
function referenceTime (value: string): string {
  const d = new Date(value)
  if (value.length > 64 || Number.isNaN(d.getTime())) throw new UsageError('ERR_USAGE', '--now: not an ISO 8601 date')
  return d.toISOString().slice(0, 19) + 'Z'
}

async function tryLoad (loader: Loader, kind: 'timestamp' | 'snapshot' | 'root' | 'targets', cid: CID | undefined): Promise<Envelope | undefined> {
  if (cid === undefined) return undefined
  try {
    return await loader.load(kind, cid)
  } catch {
    return undefined // already reported by VALID
  }
}

/** CLIENT-EXPIRES for the newest objects a client would use: root, timestamp, snapshot, top-level targets. */
async function expired (loader: Loader, tsCid: CID, now: string): Promise<Violation[]> {
  const ts = await tryLoad(loader, 'timestamp', tsCid)
  const snap = await tryLoad(loader, 'snapshot', ts?.signed.type === 'timestamp' ? ts.signed.snapshot : undefined)
  const meta = snap?.signed.type === 'snapshot' ? snap.signed.meta : undefined
  const objects = [ts, snap, await tryLoad(loader, 'root', meta?.root), await tryLoad(loader, 'targets', meta?.targets)]
  const out: Violation[] = []
  for (const o of objects) {
    if (o !== undefined && !(o.signed.expires > now)) {
      out.push({ rule: 'CLIENT-EXPIRES', cid: o.cid.toString(), message: `${o.signed.type} expired at ${o.signed.expires} (reference time ${now})` })
    }
  }
  return out
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check a timestamp DAG from a CAR file: VALID, descent from a trusted timestamp, expiry',
  usage: 'verify --car FILE --timestamp CID [--trusted CID] [--now ISO] [--json]',
  options: {
    car: { type: 'string', help: 'CAR file holding the blocks (each is hash-checked)' },
    timestamp: { type: 'string', help: 'CID of the timestamp to check' },
    trusted: { type: 'string', help: 'CID of a trusted timestamp it must descend from (<-*)' },
    now: { type: 'string', help: 'reference time (ISO 8601): report the newest objects that have expired' }
  },
  async run (args, io) {
    const car = str(args, 'car')
    if (car === undefined) throw new UsageError('ERR_USAGE', 'verify needs --car FILE')
    const tsCid = cidOption(args, 'timestamp')
    const trusted = cidArg(args, 'trusted')
    const nowArg = str(args, 'now')
    const now = nowArg === undefined ? undefined : referenceTime(nowArg)
    if (args.positionals.length > 0) throw new UsageError('ERR_USAGE', `unexpected argument ${JSON.stringify(args.positionals[0]!.slice(0, 64))}`)

    // Indexed, not read into memory: a million-target CAR is checked in
    // bounded memory (the index, and the loader's and readers' caches).
    const source = await indexCar(car)
    try {
      return await verifyFrom(source, tsCid, trusted, now, args, io)
    } finally {
      await source.close()
    }
  }
}

async function verifyFrom (source: IndexedCarSource, tsCid: CID, trusted: CID | undefined, now: string | undefined, args: Parsed, io: Io): Promise<{ result: Record<string, unknown>, exitCode: number }> {
  const loader = sourceLoader(source)
  const report = await validateTimestamp(loader, tsCid)
  const violations: Violation[] = [...report.violations]
  // VALID does not read the top-level targets map (NOTES 11.2); a verifier
  // checks every node of it too (SHARD-*).
  let valid = report.valid
  if (report.dag !== undefined) {
    try {
      await new ShardReader(source, targetsCodec).verify(report.dag.targets.signed.targets)
    } catch (e) {
      const rule = ruleOfLoadError(e)
      if (rule === undefined) throw e
      valid = false
      violations.push({ rule, cid: report.dag.targets.cid.toString(), message: `targets map: ${e instanceof Error ? e.message : String(e)}` })
    }
  }
  let descends: boolean | null = null
  let witness: string[] = []
  if (trusted !== undefined) {
    const rel = await succStar(loader, 'timestamp', tsCid, trusted)
    descends = rel.holds
    witness = rel.witness
    const seen = new Set(violations.map((v) => `${v.rule} ${v.cid} ${v.message}`))
    for (const v of rel.violations) if (!seen.has(`${v.rule} ${v.cid} ${v.message}`)) violations.push(v)
  }
  const stale = now === undefined ? [] : await expired(loader, tsCid, now)
  violations.push(...stale)

  const ok = valid && descends !== false && stale.length === 0
  if (args.options.json !== true) {
    io.out(`valid     ${valid ? 'yes' : 'no'}`)
    if (descends !== null) io.out(`descends  ${descends ? 'yes' : 'no'}`)
    for (const c of witness) io.out(`witness   ${c}`)
    for (const v of violations) io.out(`violation ${v.rule} ${v.cid} ${v.message}`)
  }
  return { result: { valid, violations, descends, witness }, exitCode: ok ? 0 : 1 }
}
