/**
 * CLIENT-EXPIRES at the time of use, end to end. A trusted state that was
 * fresh when it was accepted may expire while it is held; every use of it
 * (getTargetInfo, listTargets, downloadTarget, `dagtuf client get` and
 * `list`) is checked against the clock at that moment, so a client whose
 * updates are withheld stops installing once its state expires, as a
 * refresh at that time would (python-tuf requires a refresh first for the
 * same reason). The unsafe offline mode is explicit and named so.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeCar } from '../../src/blocks/car.js'
import { main } from '../../src/cli/main.js'
import { RepoSim } from '../helpers/history.js'
import { later, refusedUnchanged, rejects, stateBytes, tempDir, text, updaterFor, type TempDir } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }
const DAY = 86400

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-fresh-') })
afterEach(async () => { await dir.remove() })

/** A repository with a top-level target and a delegated role d1, published once at `start`. */
async function repo (start?: Date) {
  const sim = await RepoSim.create({ seed: 71, topKeys: TOP, ...(start === undefined ? {} : { start }) })
  await sim.addTarget('targets', 'app.tgz', text('app v1'))
  sim.delegate('targets', 'd1')
  await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin v1'))
  const v1 = await sim.publish()
  return { sim, v1 }
}

const noFile = async (name: string): Promise<void> => {
  expect((await readdir(dir.path)).filter((n) => n.includes(name))).toEqual([])
}

describe('freshness at the time of use (CLIENT-EXPIRES)', () => {
  it('CLIENT-EXPIRES: a lookup, a listing and a download on a state whose timestamp has since expired fail; nothing is written; a refresh then makes it usable', async () => {
    const { sim, v1 } = await repo()
    const up = await updaterFor(sim, dir.path)
    await up.refresh(v1.timestamp.cid)
    const info = (await up.getTargetInfo('app.tgz'))!
    const before = await stateBytes(dir.path)

    // Thirty days on, no update got through: timestamp and snapshot expired (root and targets have not).
    const stale = await updaterFor(sim, dir.path, { unsafeReferenceTime: later(sim, 30 * DAY) })
    const e = await rejects(stale.getTargetInfo('app.tgz'), 'CLIENT-EXPIRES', 'ValidationError')
    expect(e.details).toMatchObject({ role: 'timestamp', cid: v1.timestamp.cid.toString(), expires: v1.timestamp.signed.expires })
    expect(e.message).toMatch(/stale; update it/)
    await rejects(stale.getTargetInfo('d1/plugin.tgz'), 'CLIENT-EXPIRES')
    await rejects(stale.listTargets(), 'CLIENT-EXPIRES')
    // A target found while the state was fresh is not installed from it now.
    await rejects(stale.downloadTarget(info, join(dir.path, 'app.tgz')), 'CLIENT-EXPIRES')
    await noFile('app.tgz')
    // A refresh at that time fails the same way (the mirror replays the old head).
    await refusedUnchanged(dir.path, async () => await stale.refresh(v1.timestamp.cid), 'CLIENT-EXPIRES')
    expect(await stateBytes(dir.path)).toBe(before)

    // The honest repository publishes; the update is accepted and the state is usable again.
    sim.now = later(sim, 30 * DAY)
    await sim.addTarget('targets', 'app.tgz', text('app v2'))
    const v2 = await sim.publish()
    const r = await stale.refresh(v2.timestamp.cid)
    expect(r.continuity).toBe('descends')
    const now = (await stale.getTargetInfo('app.tgz'))!
    expect(now.length).toBe(6)
    const got = await stale.downloadTarget(now, join(dir.path, 'app.tgz'))
    expect(await readFile(got.path, 'utf8')).toBe('app v2')
    expect((await stale.listTargets()).map((t) => t.path)).toEqual(['app.tgz', 'd1/plugin.tgz'])
  })

  it('CLIENT-EXPIRES: a delegated role that expires while the state is held ends the search for its paths at the time of use', async () => {
    const { sim } = await repo()
    const d1 = await sim.forgeTargets('d1', (t) => ({ ...t, expires: new Date(sim.now.getTime() + 3600_000).toISOString().slice(0, 19) + 'Z' }))
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', d1.cid]]) })
    const up = await updaterFor(sim, dir.path)
    await up.refresh((await sim.forgeTimestamp(snap.cid)).cid)
    expect((await up.getTargetInfo('d1/plugin.tgz'))?.role).toBe('d1')
    const info = (await up.getTargetInfo('d1/plugin.tgz'))!

    // Two hours later the timestamp (one day) is still fresh, d1 is not.
    const twoHours = await updaterFor(sim, dir.path, { unsafeReferenceTime: later(sim, 7200) })
    const e = await rejects(twoHours.getTargetInfo('d1/plugin.tgz'), 'CLIENT-EXPIRES')
    expect(e.details).toMatchObject({ role: 'd1', cid: d1.cid.toString() })
    await rejects(twoHours.downloadTarget(info, join(dir.path, 'plugin.tgz')), 'CLIENT-EXPIRES')
    await noFile('plugin.tgz')
    // Paths whose search does not visit d1 still resolve; the listing visits it and fails.
    expect((await twoHours.getTargetInfo('app.tgz'))?.role).toBe('targets')
    await rejects(twoHours.listTargets(), 'CLIENT-EXPIRES')
  })

  it('CLIENT-EXPIRES: unsafeAllowExpired judges uses at the time of the accepted update, and only when asked for', async () => {
    const { sim, v1 } = await repo()
    await (await updaterFor(sim, dir.path)).refresh(v1.timestamp.cid)
    const twoYears = later(sim, 730 * DAY)
    await rejects((await updaterFor(sim, dir.path, { unsafeReferenceTime: twoYears })).getTargetInfo('app.tgz'), 'CLIENT-EXPIRES')
    await rejects((await updaterFor(sim, dir.path, { unsafeReferenceTime: twoYears, unsafeAllowExpired: false })).getTargetInfo('app.tgz'), 'CLIENT-EXPIRES')
    const offline = await updaterFor(sim, dir.path, { unsafeReferenceTime: twoYears, unsafeAllowExpired: true })
    const info = (await offline.getTargetInfo('d1/plugin.tgz'))!
    expect(info.role).toBe('d1')
    const got = await offline.downloadTarget(info, join(dir.path, 'plugin.tgz'))
    expect(await readFile(got.path, 'utf8')).toBe('plugin v1')
    // It does not make an update accept what has expired.
    await rejects(offline.refresh(v1.timestamp.cid), 'CLIENT-EXPIRES')
    await rejects(updaterFor(sim, dir.path, { unsafeAllowExpired: 'yes' as unknown as boolean }), 'ERR_ARGUMENT', 'UsageError')
  })
})

describe('a download is a use of the trusted state', () => {
  it('CLIENT-EXPIRES: downloadTarget runs the search again, and refuses an entry the trusted state no longer gives (ERR_TARGET_CHANGED)', async () => {
    const { sim, v1 } = await repo()
    const up = await updaterFor(sim, dir.path)
    await up.refresh(v1.timestamp.cid)
    const old = (await up.getTargetInfo('app.tgz'))!
    // Another process updates the same folder; app.tgz changed meanwhile.
    await sim.addTarget('targets', 'app.tgz', text('app v2'))
    await (await updaterFor(sim, dir.path)).refresh((await sim.publish()).timestamp.cid)
    const e = await rejects(up.downloadTarget(old, join(dir.path, 'app.tgz')), 'ERR_TARGET_CHANGED', 'StateError')
    expect(e.details).toMatchObject({ path: 'app.tgz', cid: old.cid.toString(), now: { length: 6 } })
    await noFile('app.tgz')
    // An entry made up by the caller is not installed either.
    await rejects(up.downloadTarget({ ...old, path: 'nowhere.tgz' }, join(dir.path, 'x')), 'ERR_TARGET_CHANGED')
    const got = await up.downloadTarget((await up.getTargetInfo('app.tgz'))!, join(dir.path, 'app.tgz'))
    expect(await readFile(got.path, 'utf8')).toBe('app v2')
  })
})

describe('dagtuf client get / list on a stale state', () => {
  async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
    const out: string[] = []
    const err: string[] = []
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
    return { code, out, err }
  }

  /** Every block of the sim's store in a CAR whose head is `head`. */
  async function car (sim: RepoSim, head: { cid: import('multiformats/cid').CID }, name: string): Promise<string> {
    const blocks = await Promise.all(sim.store.cids().map(async (cid) => ({ cid, bytes: await sim.store.get(cid) })))
    const path = join(dir.path, name)
    await writeFile(path, await encodeCar([head.cid], blocks))
    return path
  }

  it('CLIENT-EXPIRES: get without --update fails (exit 1, no file), --unsafe-allow-expired is explicit, get --update with a fresh head succeeds', async () => {
    // Published 30 days ago by the real clock: the timestamp and snapshot have expired since.
    const { sim, v1 } = await repo(new Date(Date.now() - 30 * DAY * 1000))
    const client = join(dir.path, 'client')
    await (await updaterFor(sim, client)).refresh(v1.timestamp.cid)
    const before = await stateBytes(client)
    const old = await car(sim, v1.timestamp, 'v1.car')

    const out = join(dir.path, 'app.out')
    const get = await dagtuf('client', 'get', '--dir', client, 'app.tgz', '-o', out, '--car', old, '--json')
    expect(get.code).toBe(1)
    expect(JSON.parse(get.out[0]!)).toMatchObject({ error: { code: 'CLIENT-EXPIRES', cid: v1.timestamp.cid.toString() } })
    await noFile('app.out')
    const list = await dagtuf('client', 'list', '--dir', client)
    expect(list.code).toBe(1)
    expect(list.err.join('')).toMatch(/CLIENT-EXPIRES/)
    expect(await stateBytes(client)).toBe(before)

    const unsafe = await dagtuf('client', 'get', '--dir', client, 'app.tgz', '-o', out, '--car', old, '--unsafe-allow-expired')
    expect(unsafe.code).toBe(0)
    expect(await readFile(out, 'utf8')).toBe('app v1')
    // A listing reads every role's object; an update fetched only the top (CLIENT-VALID-TOP), so it needs a source.
    expect((await dagtuf('client', 'list', '--dir', client, '--car', old, '--unsafe-allow-expired')).code).toBe(0)
    expect((await dagtuf('client', 'update', '--dir', client, '--car', old, '--unsafe-allow-expired')).code).toBe(2) // not an update option
    const help = await dagtuf('client', 'get', '--help')
    expect(help.out.join('\n')).toMatch(/--unsafe-allow-expired\s+UNSAFE/)

    // The honest repository publishes now; get --update takes it and installs the new target.
    sim.now = new Date()
    await sim.addTarget('targets', 'app.tgz', text('app v2'))
    const v2 = await sim.publish()
    const fresh = await car(sim, v2.timestamp, 'v2.car')
    const updated = await dagtuf('client', 'get', '--dir', client, 'app.tgz', '-o', out, '--car', fresh, '--update', '--json')
    expect(updated.code).toBe(0)
    expect(JSON.parse(updated.out[0]!)).toMatchObject({ length: 6, update: { timestamp: v2.timestamp.cid.toString(), continuity: 'descends' } })
    expect(await readFile(out, 'utf8')).toBe('app v2')
    expect((await dagtuf('client', 'list', '--dir', client, '--car', fresh)).code).toBe(0)
  })
})
