/**
 * TUF's threat list (TUF 1.0.34 section 1.5.2, NOTES section 14), end to
 * end: the Updater over the repository simulator's block store, with a real
 * trusted-state folder. Each attack is refused with the rule (or code) that
 * stops it, and the trusted state is byte for byte what it was before.
 */
import { cp, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { addContent } from '../../src/blocks/unixfs.js'
import type { BlockSource, GetOptions } from '../../src/blocks/types.js'
import { Updater, type UpdaterOptions } from '../../src/client/updater.js'
import { cidOf, encodeSigned, encodeValue } from '../../src/model/codec.js'
import { BlockError } from '../../src/model/errors.js'
import { signedToWire } from '../../src/model/schema.js'
import { RepoSim, type SimOptions } from '../helpers/history.js'
import { validateTimestamp } from '../../src/validate/valid.js'
import { forgeRoot, later, makeRoot, rejects, refusedUnchanged, seedSigner, stateBytes, tempDir, text, violationRules, type TempDir } from '../helpers/client-sim.js'

/** Copy a client folder (state and cache) to another. */
async function copyDir (from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true })
}

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }
const DAY = 86400
const PAST = '2020-01-01T00:00:00Z'

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-attack-') })
afterEach(async () => { await dir.remove() })

/** A client of `sim` at the sim's clock (a fresh Updater: the state is on disk). */
async function client (sim: RepoSim, opts: Partial<UpdaterOptions> = {}): Promise<Updater> {
  const up = await Updater.create({ dir: dir.path, source: sim.store, unsafeReferenceTime: sim.now, ...opts })
  if ((await up.state().catch(() => null)) === null) await up.init(sim.versions[0]!.root.cid)
  return up
}

/** A repository with a top-level target and a delegated role d1 with one target, and a client that trusts it. */
async function setup (seed = 11, topKeys: SimOptions['topKeys'] = TOP) {
  const sim = await RepoSim.create({ seed, topKeys })
  await sim.addTarget('targets', 'app.tgz', text('app v1'))
  sim.delegate('targets', 'd1')
  await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin v1'))
  const v1 = await sim.publish()
  await (await client(sim)).refresh(v1.timestamp.cid)
  return { sim, v1 }
}

/**
 * CLIENT-VALID-TOP: a DAG whose top is VALID but whose delegated role `role`
 * is not. The DAG is not VALID (what a publisher, `dagtuf verify` and a
 * head registry check: `code` among its violations); a client update checks
 * only the top, so it is accepted; every search that visits `role` is refused
 * with `code`, writing nothing; the other targets still resolve.
 */
async function refusedAtUse (sim: RepoSim, ts: CID, path: string, code: string, opts: Partial<UpdaterOptions> = {}): Promise<Updater> {
  const full = await validateTimestamp(sim.loader(), ts)
  expect(full.violations.map((v) => v.rule)).toContain(code)
  const up = await client(sim, opts)
  await up.refresh(ts)
  await refusedUnchanged(dir.path, async () => await up.getTargetInfo(path), code)
  // A fresh process (the DAG read back from the cache) refuses the same way.
  await refusedUnchanged(dir.path, async () => await (await client(sim, opts)).getTargetInfo(path), code)
  expect((await up.getTargetInfo('app.tgz'))?.role).toBe('targets')
  return up
}

/** Refused with `code`, state.json untouched. */
async function refused (sim: RepoSim, ts: CID, code: string, opts: Partial<UpdaterOptions> = {}) {
  const up = await client(sim, opts)
  return await refusedUnchanged(dir.path, async () => await up.refresh(ts), code)
}

describe('arbitrary installation', () => {
  it('a timestamp signed by a key the root does not name (VALID-TS-SIG)', async () => {
    const { sim } = await setup()
    const attacker = sim.freshKeys(1, 1).pairs.map((p) => seedSigner(p.seed))
    const ts = await sim.forgeTimestamp(sim.head.snapshot.cid, attacker)
    await refused(sim, ts.cid, 'VALID-TS-SIG')
  })

  it('a snapshot listing attacker targets, signed by the wrong key (VALID-SNAP-SIG)', async () => {
    const { sim } = await setup()
    const attacker = sim.freshKeys(1, 1).pairs.map((p) => seedSigner(p.seed))
    const targets = await sim.forgeTargets('targets', (t) => t, attacker)
    const snap = await sim.forgeSnapshot({ targets: targets.cid, signers: attacker })
    await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'VALID-SNAP-SIG')
  })

  it('top-level targets signed by the wrong key, even with snapshot and timestamp keys stolen (VALID-TARGETS-SIG)', async () => {
    const { sim } = await setup()
    const attacker = sim.freshKeys(1, 1).pairs.map((p) => seedSigner(p.seed))
    const evil = await sim.storeContent(text('malware'))
    const targets = await sim.forgeTargets('targets', (t) => ({ ...t, targets: new Map([...t.targets, ['app.tgz', evil]]) }), attacker)
    const snap = await sim.forgeSnapshot({ targets: targets.cid })
    await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'VALID-TARGETS-SIG')
  })

  it('a delegated role signed by a key its delegator did not name (VALID-DELEG-SIG, CLIENT-VALID-TOP: refused when a search visits it)', async () => {
    const { sim } = await setup()
    const attacker = sim.freshKeys(1, 1).pairs.map((p) => seedSigner(p.seed))
    const d1 = await sim.forgeTargets('d1', (t) => t, attacker)
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', d1.cid]]) })
    await refusedAtUse(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'd1/plugin.tgz', 'VALID-DELEG-SIG')
  })

  it('a new root not signed by the trusted root keys (CLIENT-ROOT-CHAIN, SUCC-ROOT-THRESHOLD)', async () => {
    const { sim } = await setup()
    const a = sim.freshKeys(1, 1).pairs[0]!
    const root = await forgeRoot(sim, (r) => ({ ...r, keys: new Map([...r.keys, [a.keyid, a.publicKey]]), roles: { ...r.roles, root: { keyids: [a.keyid], threshold: 1 }, timestamp: { keyids: [a.keyid], threshold: 1 } } }), [seedSigner(a.seed)])
    const snap = await sim.forgeSnapshot({ root: root.cid })
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid, [seedSigner(a.seed)])).cid, 'CLIENT-ROOT-CHAIN')
    expect(violationRules(e)).toContain('SUCC-ROOT-THRESHOLD')
  })

  it('a block whose bytes were swapped by the mirror (ENC-CID)', async () => {
    const { sim } = await setup()
    const v2 = await sim.publish()
    sim.store.tamper(v2.snapshot.cid, (b) => { b[b.length - 3]! ^= 1; return b })
    const e = await refused(sim, v2.timestamp.cid, 'ENC-CID')
    expect(e.details.cid).toBe(v2.snapshot.cid.toString())
  })
})

describe('endless data', () => {
  it('BOUND-BLOCK-SIZE: a head block larger than a timestamp may be is refused while receiving', async () => {
    const { sim } = await setup()
    const big = encodeValue({ junk: 'x'.repeat(20_000) })
    const cid = cidOf(big)
    sim.store.unsafePut(cid, big)
    let asked = -1
    const spy: BlockSource = { get: async (c: CID, o?: GetOptions) => { if (c.equals(cid)) asked = o?.maxBytes ?? -1; return await sim.store.get(c, o) } }
    await refused(sim, cid, 'BOUND-BLOCK-SIZE', { source: spy })
    expect(asked).toBe(16 * 1024)
  })

  it('BOUND-BLOCK-SIZE: a source that ignores the cap is caught by the client', async () => {
    const { sim } = await setup()
    const v2 = await sim.publish()
    const flood: BlockSource = { get: async (c: CID) => c.equals(v2.timestamp.cid) ? new Uint8Array(100_000) : await sim.store.get(c) }
    await refused(sim, v2.timestamp.cid, 'BOUND-BLOCK-SIZE', { source: flood })
  })

  it('BOUND-DEPTH: hostile nesting is refused before decoding', async () => {
    const { sim } = await setup()
    const deep = text('['.repeat(40) + ']'.repeat(40))
    const cid = cidOf(deep)
    await sim.store.put(cid, deep)
    await refused(sim, cid, 'BOUND-DEPTH')
  })

  it('BOUND-BLOCKS: one update fetches at most maxBlocksPerUpdate blocks (cache hits are free)', async () => {
    const { sim } = await setup()
    await sim.addTarget('targets', 'more.txt')
    await sim.addTarget('d1', 'd1/more.txt')
    const v2 = await sim.publish()
    // T, S, targets and d1 are new, and one shard node: the snapshot's
    // delegated-targets map (d1's CID changed). d1 is read by the <-* step
    // (SUCC-SNAP-DELEG: its previous-version); its targets map is not read
    // (CLIENT-VALID-TOP: only a search does). Five fetches; the root and the
    // (unchanged) retired map come from the cache, and the top-level targets
    // map is not read at all.
    await refused(sim, v2.timestamp.cid, 'BOUND-BLOCKS', { limits: { maxBlocksPerUpdate: 4 } })
    const r = await (await client(sim, { limits: { maxBlocksPerUpdate: 5 } })).refresh(v2.timestamp.cid)
    expect(r.fetched.blocks).toBe(5)
  })

  it('BOUND-BYTES: one update fetches at most maxBytesPerUpdate bytes', async () => {
    const { sim } = await setup()
    const v2 = await sim.publish()
    await refused(sim, v2.timestamp.cid, 'BOUND-BYTES', { limits: { maxBytesPerUpdate: 600 } })
  })

  it('BOUND-ROOT-STEPS: with no key at all, a chain of 40 fake self-signed roots costs at most 32 root fetches (the default bound)', async () => {
    const { sim } = await setup()
    const before = await stateBytes(dir.path)
    // Forty roots, each signed by its own fresh key and by its predecessor's:
    // every step of the chain is in order; only its start is not the trusted root.
    let prev: CID | null = null
    let prevSigner: ReturnType<typeof seedSigner> | undefined
    let fake!: Awaited<ReturnType<typeof forgeRoot>>
    for (let i = 0; i < 40; i++) {
      const k = sim.freshKeys(1, 1).pairs[0]!
      const one = { keys: [k.publicKey], threshold: 1 }
      const signers = [seedSigner(k.seed), ...(prevSigner === undefined ? [] : [prevSigner])]
      fake = await sim.sign(makeRoot({ expires: '2099-01-01T00:00:00Z', previousVersion: prev, roles: { root: one, targets: one, snapshot: one, timestamp: one } }), signers)
      prev = fake.cid
      prevSigner = seedSigner(k.seed)
    }
    const snap = await sim.forgeSnapshot({ root: fake.cid, signers: [prevSigner!] })
    const ts = await sim.forgeTimestamp(snap.cid, [prevSigner!])
    let fetched = 0
    const counting: BlockSource = { get: async (cid: CID, o?: GetOptions) => { fetched++; return await sim.store.get(cid, o) } }
    const up = await Updater.create({ dir: dir.path, source: counting, unsafeReferenceTime: sim.now })
    await rejects(up.refresh(ts.cid), 'BOUND-ROOT-STEPS')
    // The timestamp, the snapshot, the head root and at most 32 predecessors.
    expect(fetched).toBeLessThanOrEqual(3 + 32)
    expect(await stateBytes(dir.path)).toEqual(before)
    expect((await (await client(sim)).refresh((await sim.publish()).timestamp.cid)).continuity).toBe('descends')
  })

  it('BOUND-REPORTED: a catch-up that runs out of its block budget is BOUND-BLOCKS, not CLIENT-TS-DESCENDS', async () => {
    const { sim } = await setup()
    for (let i = 0; i < 6; i++) { await sim.addTarget('d1', `d1/more-${i}.tgz`); await sim.publish() }
    // The blocks a full catch-up fetches, measured on a copy of the state.
    const probe = await tempDir('dagtuf-attack-probe-')
    try {
      await copyDir(dir.path, probe.path)
      const full = await (await Updater.create({ dir: probe.path, source: sim.store, unsafeReferenceTime: sim.now })).refresh(sim.head.timestamp.cid)
      expect(full.continuity).toBe('descends')
      // VALID of the head comes first; the last fetches belong to the <-* walk.
      const e = await refused(sim, sim.head.timestamp.cid, 'BOUND-BLOCKS', { limits: { maxBlocksPerUpdate: full.fetched.blocks - 1 } })
      expect(e.details.check).toBe('CLIENT-TS-DESCENDS')
    } finally {
      await probe.remove()
    }
    // The honest update, with the default budget, is accepted afterwards.
    expect((await (await client(sim)).refresh(sim.head.timestamp.cid)).continuity).toBe('descends')
  })

  it('BOUND-ROOT-STEPS: a long chain of roots is cut off', async () => {
    const { sim } = await setup()
    for (let i = 0; i < 4; i++) { sim.rotate('root'); await sim.publish() }
    await refused(sim, sim.head.timestamp.cid, 'BOUND-ROOT-STEPS', { limits: { maxRootSteps: 3 } })
  })

  it('BOUND-CHAIN: a long snapshot walk is cut off', async () => {
    const { sim } = await setup()
    for (let i = 0; i < 5; i++) await sim.publish()
    await refused(sim, sim.head.timestamp.cid, 'BOUND-CHAIN', { limits: { maxChainLength: 4 } })
  })

  it('BOUND-DELEGATIONS: a search that would visit more roles than allowed is refused (the update, which visits none, is not)', async () => {
    const { sim } = await setup()
    for (let i = 0; i < 4; i++) sim.delegate('targets', `w${i}`, { paths: ['w/*'] })
    const v2 = await sim.publish()
    const up = await client(sim, { limits: { maxDelegationsVisited: 3 } })
    await up.refresh(v2.timestamp.cid)
    await refusedUnchanged(dir.path, async () => await up.getTargetInfo('w/nowhere.tgz'), 'BOUND-DELEGATIONS')
    // The publisher's check walks every role: VALID reports the bound too.
    expect((await validateTimestamp(sim.loader(), v2.timestamp.cid, { limits: { maxDelegationsVisited: 3 } })).violations.map((v) => v.rule)).toContain('BOUND-DELEGATIONS')
  })

  it('BOUND-DELEGATION-DEPTH: a search deeper than allowed is refused', async () => {
    const { sim } = await setup()
    sim.delegate('d1', 'd2', { paths: ['d1/*'] })
    sim.delegate('d2', 'd3', { paths: ['d1/*'] })
    const v2 = await sim.publish()
    const up = await client(sim, { limits: { maxDelegationDepth: 2 } })
    await up.refresh(v2.timestamp.cid)
    await refusedUnchanged(dir.path, async () => await up.getTargetInfo('d1/nowhere.tgz'), 'BOUND-DELEGATION-DEPTH')
    expect((await up.getTargetInfo('d1/plugin.tgz'))?.role).toBe('d1')
  })

  it('CLIENT-TARGET-CONTENT: content longer than its signed length stops at the length, and no file is left', async () => {
    const sim = await RepoSim.create({ seed: 3, topKeys: TOP })
    const big = new Uint8Array(2 * 1024 * 1024 + 5).fill(7)
    const ref = await addContent(sim.store, big)
    const targets = await sim.forgeTargets('targets', (t) => ({ ...t, targets: new Map([['big.bin', { cid: ref.cid, length: 1024 * 1024 }]]) }))
    const snap = await sim.forgeSnapshot({ targets: targets.cid })
    const up = await client(sim)
    await up.refresh((await sim.forgeTimestamp(snap.cid)).cid)
    const info = (await up.getTargetInfo('big.bin'))!
    const e = await rejects(up.downloadTarget(info, join(dir.path, 'big.bin')), 'CLIENT-TARGET-CONTENT')
    expect(e.details.reason).toBe('ERR_LENGTH_MISMATCH')
    expect((await readdir(dir.path)).filter((n) => n.includes('big.bin'))).toEqual([])
  })
})

describe('extraneous dependencies', () => {
  it('a delegated role listing a path outside its delegation (VALID-DELEG-PATHS: not VALID; CLIENT-VALID-TOP: a search never returns it)', async () => {
    const { sim } = await setup()
    const evil = await sim.storeContent(text('not yours'))
    const d1 = await sim.forgeTargets('d1', (t) => ({ ...t, targets: new Map([...t.targets, ['app.tgz', evil], ['elsewhere/x.tgz', evil]]) }))
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', d1.cid]]) })
    const ts = (await sim.forgeTimestamp(snap.cid)).cid
    expect((await validateTimestamp(sim.loader(), ts)).violations.map((v) => v.rule)).toContain('VALID-DELEG-PATHS')
    const up = await client(sim)
    await up.refresh(ts)
    const app = await up.getTargetInfo('app.tgz')
    expect(app?.role).toBe('targets')
    expect(app?.cid.equals(evil.cid)).toBe(false)
    expect(await up.getTargetInfo('elsewhere/x.tgz')).toBeNull()
    expect((await up.listTargets()).map((t) => t.path)).not.toContain('elsewhere/x.tgz')
  })

  it('a snapshot listing a role no delegation authorizes (VALID-DELEG-REACHABLE: not VALID; CLIENT-VALID-TOP: never used)', async () => {
    const { sim } = await setup()
    const evil = await sim.storeContent(text('ghost'))
    const ghost = await sim.forgeTargets('d1', (t) => ({ ...t, previousVersion: null, targets: new Map([['ghost/x.tgz', evil]]) }))
    const snap = await sim.forgeSnapshot({ delegated: new Map([...RepoSim.roles(sim.head), ['ghost', ghost.cid]]) })
    const ts = (await sim.forgeTimestamp(snap.cid)).cid
    expect((await validateTimestamp(sim.loader(), ts)).violations.map((v) => v.rule)).toContain('VALID-DELEG-REACHABLE')
    const up = await client(sim)
    await up.refresh(ts)
    expect(await up.getTargetInfo('ghost/x.tgz')).toBeNull()
    expect((await up.getTargetInfo('d1/plugin.tgz'))?.role).toBe('d1')
  })
})

describe('fast-forward', () => {
  it('CLIENT-RECOVER: after a fork signed with stolen snapshot and timestamp keys, the client recovers once they rotate, and keeps the targets floor (CLIENT-FLOOR)', async () => {
    const { sim, v1 } = await setup()
    await sim.addTarget('targets', 'app2.tgz', text('app v2'))
    await (await client(sim)).refresh((await sim.publish()).timestamp.cid)
    // The attacker signs a successor off the honest chain; the client takes it.
    const fork = await sim.forgeSnapshot({})
    const forkTs = await sim.forgeTimestamp(fork.cid)
    await (await client(sim)).refresh(forkTs.cid)
    // The honest chain no longer descends from what the client trusts.
    await sim.addTarget('targets', 'app3.tgz', text('app v3'))
    const honest = await sim.publish()
    await refused(sim, honest.timestamp.cid, 'CLIENT-TS-DESCENDS')
    // The keys are rotated. Whoever holds the new keys cannot take the
    // client's targets back below what it trusted (CLIENT-FLOOR)...
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    const back = await sim.forgeSnapshot({ targets: v1.targets.cid })
    await refused(sim, (await sim.forgeTimestamp(back.cid)).cid, 'CLIENT-FLOOR')
    // ...while the honest head is accepted: the client moves on, keeping every floor.
    const r = await (await client(sim)).refresh(v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors?.kept).toEqual(['targets', 'd1'])
    expect(r.changed).toContain('root')
    // From here on the chain rule applies again.
    const e = await refused(sim, (await sim.forgeTimestamp(back.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-TARGETS')
    expect((await (await client(sim)).getTargetInfo('app2.tgz'))?.length).toBe(6)
  })
})

describe('indefinite freeze', () => {
  it('CLIENT-EXPIRES: a mirror replaying the trusted timestamp after it expired', async () => {
    const { sim, v1 } = await setup()
    await refused(sim, v1.timestamp.cid, 'CLIENT-EXPIRES', { unsafeReferenceTime: later(sim, 2 * DAY) })
  })

  it('CLIENT-EXPIRES: a fresh timestamp over an expired snapshot', async () => {
    const { sim } = await setup()
    const snap = await sim.sign({ ...sim.head.snapshot.signed, expires: PAST, previousVersion: sim.head.snapshot.cid }, sim.publishedSignersOf('snapshot'))
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-EXPIRES')
    expect(e.details.role).toBe('snapshot')
  })

  it('CLIENT-EXPIRES: expired top-level targets', async () => {
    const { sim } = await setup()
    const t = await sim.forgeTargets('targets', (x) => ({ ...x, expires: PAST }))
    const snap = await sim.forgeSnapshot({ targets: t.cid })
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-EXPIRES')
    expect(e.details.role).toBe('targets')
  })

  it('CLIENT-EXPIRES: an expired delegated role ends the search for its paths (never skipped)', async () => {
    const { sim } = await setup()
    const d1 = await sim.forgeTargets('d1', (x) => ({ ...x, expires: PAST }))
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', d1.cid]]) })
    const up = await client(sim)
    await up.refresh((await sim.forgeTimestamp(snap.cid)).cid)
    const e = await rejects(up.getTargetInfo('d1/plugin.tgz'), 'CLIENT-EXPIRES')
    expect(e.details.cid).toBe(d1.cid.toString())
    // Paths whose search does not visit d1 still resolve.
    expect((await up.getTargetInfo('app.tgz'))?.role).toBe('targets')
  })
})

describe('malicious mirrors preventing updates', () => {
  it('a mirror that withholds blocks: a typed error, the state unchanged', async () => {
    const { sim } = await setup()
    const v2 = await sim.publish()
    const withholding: BlockSource = { get: async (c: CID, o?: GetOptions) => c.equals(v2.snapshot.cid) ? await Promise.reject(new BlockError('ERR_BLOCK_NOT_FOUND', 'no')) : await sim.store.get(c, o) }
    const e = await refused(sim, v2.timestamp.cid, 'ERR_BLOCK_NOT_FOUND', { source: withholding })
    expect(e.name).toBe('BlockError')
  })

  it('a mirror that hangs: the update is bounded by its time limit (ERR_TIMEOUT)', async () => {
    const { sim } = await setup()
    const v2 = await sim.publish()
    const hanging: BlockSource = {
      get: async (_c: CID, o?: GetOptions) => await new Promise<Uint8Array>((_resolve, reject) => {
        o?.signal?.addEventListener('abort', () => { reject(new BlockError('ERR_ABORTED', 'aborted')) }, { once: true })
      })
    }
    const started = Date.now()
    await refused(sim, v2.timestamp.cid, 'ERR_TIMEOUT', { source: hanging, timeoutMs: 300 })
    expect(Date.now() - started).toBeLessThan(3_000)
  })

  it('a head source that hangs is bounded too, and the caller can abort', async () => {
    const { sim } = await setup()
    const head = async ({ signal }: { signal?: AbortSignal }) => await new Promise<CID>((_resolve, reject) => {
      signal?.addEventListener('abort', () => { reject(new BlockError('ERR_ABORTED', 'aborted')) }, { once: true })
    })
    const up = await client(sim, { head, timeoutMs: 200 })
    await refusedUnchanged(dir.path, async () => await up.refresh(), 'ERR_TIMEOUT')
    const ac = new AbortController()
    const up2 = await client(sim, { head, signal: ac.signal })
    setTimeout(() => { ac.abort() }, 100)
    await refusedUnchanged(dir.path, async () => await up2.refresh(), 'ERR_ABORTED')
  })

  it('a mirror serving a block from another update under a wanted CID (ENC-CID)', async () => {
    const { sim, v1 } = await setup()
    const v2 = await sim.publish()
    const lying: BlockSource = { get: async (c: CID, o?: GetOptions) => c.equals(v2.snapshot.cid) ? v1.snapshot.bytes : await sim.store.get(c, o) }
    await refused(sim, v2.timestamp.cid, 'ENC-CID', { source: lying })
  })
})

describe('mix-and-match', () => {
  it('a snapshot combining the current objects with an older delegated role (CLIENT-TS-DESCENDS, SUCC-SNAP-DELEG)', async () => {
    const { sim, v1 } = await setup()
    await sim.addTarget('d1', 'd1/extra.tgz')
    await (await client(sim)).refresh((await sim.publish()).timestamp.cid)
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', v1.delegated.get('d1')!.cid]]) })
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-DELEG')
  })

  it('a timestamp naming another repository\'s snapshot (CLIENT-ROOT-CHAIN)', async () => {
    const { sim } = await setup()
    const other = await RepoSim.create({ seed: 12, topKeys: TOP })
    for (const c of other.store.cids()) await sim.store.put(c, await other.store.get(c))
    const ts = await sim.forgeTimestamp(other.head.snapshot.cid)
    await refused(sim, ts.cid, 'CLIENT-ROOT-CHAIN')
  })

  it('one role\'s object listed under another role\'s name (VALID-DELEG-SIG)', async () => {
    const { sim } = await setup()
    sim.delegate('targets', 'd2')
    await sim.addTarget('d2', 'd2/x.tgz')
    await (await client(sim)).refresh((await sim.publish()).timestamp.cid)
    const dt = RepoSim.roles(sim.head)
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', dt.get('d2')!], ['d2', dt.get('d2')!]]) })
    const ts = (await sim.forgeTimestamp(snap.cid)).cid
    // A client that trusts d1's chain refuses the swap at update: d2's object does not continue it.
    const e = await refused(sim, ts, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-DELEG')
    // A client that has never seen d1 accepts the top and refuses the swapped role when a search visits it.
    await dir.remove()
    dir = await tempDir('dagtuf-attack-')
    await refusedAtUse(sim, ts, 'd1/plugin.tgz', 'VALID-DELEG-SIG')
  })

  it('a snapshot pointing at a timestamp block where its root should be (VALID-KIND)', async () => {
    const { sim } = await setup()
    const snap = await sim.forgeSnapshot({ root: sim.head.timestamp.cid })
    await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'VALID-KIND')
  })
})

describe('rollback', () => {
  async function twoVersions () {
    const s = await setup()
    await s.sim.addTarget('targets', 'app.tgz', text('app v2'))
    await s.sim.addTarget('d1', 'd1/plugin.tgz', text('plugin v2'))
    const v2 = await s.sim.publish()
    await (await client(s.sim)).refresh(v2.timestamp.cid)
    return { ...s, v2 }
  }

  it('of the timestamp: the previous timestamp (CLIENT-TS-DESCENDS)', async () => {
    const { sim, v1 } = await twoVersions()
    await refused(sim, v1.timestamp.cid, 'CLIENT-TS-DESCENDS', { unsafeReferenceTime: v1.now })
  })

  it('of the snapshot: a fresh timestamp for the previous snapshot (CLIENT-TS-DESCENDS)', async () => {
    const { sim, v1 } = await twoVersions()
    await refused(sim, (await sim.forgeTimestamp(v1.snapshot.cid)).cid, 'CLIENT-TS-DESCENDS')
  })

  it('of the top-level targets (CLIENT-TS-DESCENDS, SUCC-SNAP-TARGETS)', async () => {
    const { sim, v1 } = await twoVersions()
    const snap = await sim.forgeSnapshot({ targets: v1.targets.cid })
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-TARGETS')
  })

  it('of a delegated role (CLIENT-TS-DESCENDS, SUCC-SNAP-DELEG)', async () => {
    const { sim, v1 } = await twoVersions()
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', v1.delegated.get('d1')!.cid]]) })
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-DELEG')
  })

  it('by dropping a role without a tombstone (SUCC-SNAP-REMOVED) or re-adding it at an old version (SUCC-SNAP-RETIRED)', async () => {
    const { sim, v1, v2 } = await twoVersions()
    // The targets keys undelegate d1 (legal); the snapshot drops d1 without a tombstone.
    const noD1 = await sim.forgeTargets('targets', (t) => { const { delegations: _, ...rest } = t; return rest })
    const dropped = await sim.forgeSnapshot({ targets: noD1.cid, delegated: new Map() })
    const e1 = await refused(sim, (await sim.forgeTimestamp(dropped.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e1)).toContain('SUCC-SNAP-REMOVED')
    // A legal removal (the tombstone holds d1's last object), then d1 comes
    // back in the next snapshot at its older version.
    const retired = await sim.forgeSnapshot({ targets: noD1.cid, delegated: new Map(), retired: new Map([['d1', v2.delegated.get('d1')!.cid]]) })
    const withD1 = await sim.sign({ ...noD1.signed, delegations: v2.targets.signed.delegations!, previousVersion: noD1.cid }, sim.signersOf('targets'))
    const back = await sim.forgeSnapshot({ previousVersion: retired.cid, targets: withD1.cid, delegated: new Map([['d1', v1.delegated.get('d1')!.cid]]), retired: new Map() })
    const e2 = await refused(sim, (await sim.forgeTimestamp(back.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e2)).toContain('SUCC-SNAP-RETIRED')
  })

  it('of the root: a snapshot naming the previous root (CLIENT-ROOT-CHAIN)', async () => {
    const { sim, v1 } = await twoVersions()
    sim.rotate('root')
    await (await client(sim)).refresh((await sim.publish()).timestamp.cid)
    const snap = await sim.forgeSnapshot({ root: v1.root.cid })
    await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-ROOT-CHAIN')
  })

  it('survives a restart and the expiry of what was trusted: the floor is what was trusted last (CLIENT-TS-DESCENDS)', async () => {
    const { sim, v1 } = await twoVersions()
    const before = await stateBytes(dir.path)
    // A new process, a month later (the trusted timestamp and snapshot have
    // expired), offered v1's objects under a fresh snapshot and timestamp
    // signed with stolen keys.
    sim.now = later(sim, 30 * DAY)
    const replay = await sim.forgeSnapshot({ previousVersion: v1.snapshot.cid, targets: v1.targets.cid, delegated: new Map([['d1', v1.delegated.get('d1')!.cid]]) })
    await refused(sim, (await sim.forgeTimestamp(replay.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(await stateBytes(dir.path)).toBe(before)
  })
})

describe('key compromise below threshold', () => {
  const TWO = { keys: 3, threshold: 2 }
  const T2 = { root: { keys: 2, threshold: 2 }, targets: TWO, snapshot: TWO, timestamp: TWO }

  it('one of two required timestamp keys (VALID-TS-SIG)', async () => {
    const { sim } = await setup(21, T2)
    await refused(sim, (await sim.forgeTimestamp(sim.head.snapshot.cid, sim.publishedSignersOf('timestamp', 1))).cid, 'VALID-TS-SIG')
  })

  it('one of two required snapshot keys (VALID-SNAP-SIG)', async () => {
    const { sim } = await setup(21, T2)
    const snap = await sim.forgeSnapshot({ signers: sim.publishedSignersOf('snapshot', 1) })
    await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'VALID-SNAP-SIG')
  })

  it('one of two required targets keys, with snapshot and timestamp keys stolen (VALID-TARGETS-SIG)', async () => {
    const { sim } = await setup(21, T2)
    const t = await sim.forgeTargets('targets', (x) => x, sim.signersOf('targets', 1))
    const snap = await sim.forgeSnapshot({ targets: t.cid })
    await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'VALID-TARGETS-SIG')
  })

  it('one of two required old root keys for a new root (CLIENT-ROOT-CHAIN, SUCC-ROOT-THRESHOLD)', async () => {
    const { sim } = await setup(21, T2)
    const [k1] = sim.allSignersOf('root')
    const root = await forgeRoot(sim, (r) => ({ ...r, roles: { ...r.roles, root: { keyids: [k1!.keyid], threshold: 1 } } }), [k1!])
    const snap = await sim.forgeSnapshot({ root: root.cid })
    const e = await refused(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'CLIENT-ROOT-CHAIN')
    expect(violationRules(e)).toContain('SUCC-ROOT-THRESHOLD')
  })

  it('one of two required keys of a delegated role (VALID-DELEG-SIG)', async () => {
    const sim = await RepoSim.create({ seed: 5, topKeys: TOP })
    sim.delegate('targets', 'd1', { keys: 2, threshold: 2 })
    await sim.addTarget('d1', 'd1/x.tgz')
    await (await client(sim)).refresh((await sim.publish()).timestamp.cid)
    await sim.addTarget('targets', 'app.tgz')
    await (await client(sim)).refresh((await sim.publish()).timestamp.cid)
    const d1 = await sim.forgeTargets('d1', (x) => x, sim.signersOf('d1', 1))
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', d1.cid]]) })
    await refusedAtUse(sim, (await sim.forgeTimestamp(snap.cid)).cid, 'd1/x.tgz', 'VALID-DELEG-SIG')
  })

  it('one key signing twice under its keyid does not count twice (SIG-ONE-PER-KEYID)', async () => {
    const { sim } = await setup(21, T2)
    const [one] = sim.publishedSignersOf('timestamp', 1)
    const good = await sim.forgeTimestamp(sim.head.snapshot.cid, [one!])
    const sig = good.signatures[0]!
    const bytes = encodeValue({ signatures: [sig, sig], signed: signedToWire(good.signed) })
    expect(encodeSigned(good.signed).byteLength).toBeGreaterThan(0)
    const cid = cidOf(bytes)
    await sim.store.put(cid, bytes)
    await refused(sim, cid, 'SIG-ONE-PER-KEYID')
  })
})

describe('wrong software', () => {
  it('CLIENT-TARGET-CONTENT: bytes that do not match the target CID are refused and never written', async () => {
    const { sim } = await setup()
    const up = await client(sim)
    const info = (await up.getTargetInfo('app.tgz'))!
    sim.store.tamper(info.cid, () => text('app v6'))
    const dest = join(dir.path, 'app.tgz')
    const e = await rejects(up.downloadTarget(info, dest), 'CLIENT-TARGET-CONTENT')
    expect(e.details).toMatchObject({ cid: info.cid.toString(), reason: 'ERR_HASH_MISMATCH' })
    expect((await readdir(dir.path)).filter((n) => n.includes('app.tgz'))).toEqual([])
  })

  it('CLIENT-TARGET-CONTENT: content of another length than signed is refused', async () => {
    const sim = await RepoSim.create({ seed: 4, topKeys: TOP })
    const info = await sim.storeContent(text('12345'))
    const t = await sim.forgeTargets('targets', (x) => ({ ...x, targets: new Map([['short.txt', { ...info, length: 4 }], ['long.txt', { ...info, length: 6 }], ['exact.txt', info]]) }))
    const snap = await sim.forgeSnapshot({ targets: t.cid })
    const up = await client(sim)
    await up.refresh((await sim.forgeTimestamp(snap.cid)).cid)
    for (const p of ['short.txt', 'long.txt']) {
      const e = await rejects(up.downloadTarget((await up.getTargetInfo(p))!, join(dir.path, p)), 'CLIENT-TARGET-CONTENT')
      expect(e.details.reason).toBe('ERR_LENGTH_MISMATCH')
    }
    // The same content signed with its true length downloads (a download re-runs the
    // search, so it installs only what the trusted state signs, ERR_TARGET_CHANGED otherwise).
    const ok = await up.downloadTarget((await up.getTargetInfo('exact.txt'))!, join(dir.path, 'ok.txt'))
    expect(await readFile(ok.path, 'utf8')).toBe('12345')
  })

  it('DELEG-ORDER: the first matching delegation answers, later ones are never consulted', async () => {
    const sim = await RepoSim.create({ seed: 6, topKeys: TOP })
    sim.delegate('targets', 'first', { paths: ['pkg/*'], home: 'pkg' })
    sim.delegate('targets', 'second', { paths: ['pkg/*'], home: 'pkg' })
    await sim.addTarget('first', 'pkg/a.tgz', text('from first'))
    await sim.addTarget('second', 'pkg/a.tgz', text('from second, evil'))
    await sim.addTarget('second', 'pkg/b.tgz', text('only second'))
    const up = await client(sim)
    await up.refresh((await sim.publish()).timestamp.cid)
    expect((await up.getTargetInfo('pkg/a.tgz'))?.role).toBe('first')
    expect((await up.getTargetInfo('pkg/b.tgz'))?.role).toBe('second')
  })

  it('DELEG-TERMINATING: a terminating delegation keeps everyone else out of its paths', async () => {
    const sim = await RepoSim.create({ seed: 6, topKeys: TOP })
    sim.delegate('targets', 'owner', { paths: ['pkg/*'], home: 'pkg', terminating: true })
    sim.delegate('targets', 'other', { paths: ['pkg/*'], home: 'pkg' })
    await sim.addTarget('other', 'pkg/evil.tgz', text('evil'))
    const up = await client(sim)
    await up.refresh((await sim.publish()).timestamp.cid)
    expect(await up.getTargetInfo('pkg/evil.tgz')).toBeNull()
  })

  it('DELEG-VISITED: a diamond is searched once, and a cycle terminates', async () => {
    const sim = await RepoSim.create({ seed: 6, topKeys: TOP })
    sim.delegate('targets', 'a', { paths: ['x/*'], home: 'x' })
    sim.delegate('targets', 'b', { paths: ['x/*'], home: 'x' })
    sim.delegate('a', 'c', { paths: ['x/*'], home: 'x' })
    sim.delegate('b', 'c', { paths: ['x/*'], home: 'x' })
    sim.delegate('c', 'a', { paths: ['x/*'], home: 'x' })
    await sim.addTarget('c', 'x/1.txt')
    const up = await client(sim)
    await up.refresh((await sim.publish()).timestamp.cid)
    expect((await up.getTargetInfo('x/1.txt'))?.chain).toEqual(['targets', 'a', 'c'])
    expect(await up.getTargetInfo('x/none.txt')).toBeNull()
  })

  it('DELEG-GLOB and DELEG-HASH-PREFIX: a role answers only for paths its delegation matches', async () => {
    const sim = await RepoSim.create({ seed: 6, topKeys: TOP })
    sim.delegate('targets', 'glob', { paths: ['a/*.txt'], home: 'a' })
    sim.delegate('targets', 'bins', { hashPrefixes: ['0', '1', '2', '3', '4', '5', '6', '7'], home: 'h' })
    await sim.addTarget('glob', 'a/x.txt')
    let hashed = ''
    for (let i = 0; hashed === ''; i++) if (await sim.addTarget('bins', `h/f${i}`)) hashed = `h/f${i}`
    const up = await client(sim)
    await up.refresh((await sim.publish()).timestamp.cid)
    expect((await up.getTargetInfo('a/x.txt'))?.role).toBe('glob')
    expect(await up.getTargetInfo('a/x.tgz')).toBeNull()
    expect(await up.getTargetInfo('a/b/x.txt')).toBeNull()
    expect((await up.getTargetInfo(hashed))?.role).toBe('bins')
  })

  it('an expired high-priority role does not let a lower-priority one answer (CLIENT-EXPIRES)', async () => {
    const sim = await RepoSim.create({ seed: 6, topKeys: TOP })
    sim.delegate('targets', 'first', { paths: ['pkg/*'], home: 'pkg' })
    sim.delegate('targets', 'second', { paths: ['pkg/*'], home: 'pkg' })
    await sim.addTarget('first', 'pkg/a.tgz', text('good'))
    await sim.addTarget('second', 'pkg/a.tgz', text('old or evil'))
    await sim.publish()
    const first = await sim.forgeTargets('first', (t) => ({ ...t, expires: PAST }))
    const snap = await sim.forgeSnapshot({ delegated: new Map([...RepoSim.roles(sim.head), ['first', first.cid]]) })
    const up = await client(sim)
    await up.refresh((await sim.forgeTimestamp(snap.cid)).cid)
    await rejects(up.getTargetInfo('pkg/a.tgz'), 'CLIENT-EXPIRES')
  })
})
