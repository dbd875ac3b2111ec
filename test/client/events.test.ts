/**
 * The Updater's events (issue 17 item 1, src/client/events.ts): one plain
 * JSON object per outcome of init, refresh and downloadTarget, with a
 * stable type and version, bounded, without credentials; a listener that
 * throws never changes an outcome.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import type { BlockSource } from '../../src/blocks/types.js'
import { Updater, type UpdaterOptions } from '../../src/client/updater.js'
import { EVENT_LIMITS, EVENT_VERSION, boundedText, capped, errorEvent, rulesChecked, withoutCredentials, type UpdaterEvent } from '../../src/client/events.js'
import { BlockError } from '../../src/model/errors.js'
import { RULE_IDS } from '../../src/model/rules.js'
import { RepoSim } from '../helpers/history.js'
import { refusedUnchanged, stateBytes, tempDir, text, type TempDir } from '../helpers/client-sim.js'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-events-') })
afterEach(async () => { await dir.remove() })

const LABEL = 'https://alice:s3cret-pass@gw.example/ipfs?token=t0ken-value'

/** A client of `sim` in `path` whose events go to `events`. */
async function client (sim: RepoSim, events: UpdaterEvent[], opts: Partial<UpdaterOptions> = {}, path = dir.path): Promise<Updater> {
  const up = await Updater.create({ dir: path, source: sim.store as BlockSource, unsafeReferenceTime: sim.now, sourceLabel: LABEL, onEvent: (e) => { events.push(e) }, ...opts })
  if ((await up.state().catch(() => null)) === null) await up.init(sim.versions[0]!.root.cid)
  return up
}

async function twoVersions () {
  const sim = await RepoSim.create({ seed: 21, topKeys: { root: { keys: 1, threshold: 1 }, targets: { keys: 1, threshold: 1 }, snapshot: { keys: 1, threshold: 1 }, timestamp: { keys: 1, threshold: 1 } } })
  await sim.addTarget('targets', 'app.tgz', text('app v1'))
  sim.delegate('targets', 'd1')
  await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin v1'))
  const v1 = await sim.publish()
  await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin v2'))
  const v2 = await sim.publish()
  return { sim, v1, v2 }
}

/** Every event survives JSON unchanged (plain data, no CID objects, no undefined). */
function plain (e: UpdaterEvent): void {
  expect(JSON.parse(JSON.stringify(e))).toStrictEqual(e)
  expect(e.v).toBe(EVENT_VERSION)
  expect(Number.isNaN(Date.parse(e.time))).toBe(false)
}

describe('Updater events', () => {
  it('init, two accepted updates and a download, each one event with what changed and what was fetched', async () => {
    const { sim, v1, v2 } = await twoVersions()
    const events: UpdaterEvent[] = []
    const up = await client(sim, events)
    expect(events.map((e) => e.type)).toEqual(['init'])
    expect(events[0]).toMatchObject({ type: 'init', operation: 'init', root: sim.versions[0]!.root.cid.toString(), changed: true, dir: up.dir })

    await up.refresh(v1.timestamp.cid)
    const first = events[1]!
    if (first.type !== 'update.accepted') throw new Error(`expected update.accepted, got ${first.type}`)
    expect(first.from.timestamp).toBeNull()
    expect(first.to).toEqual({ root: v1.root.cid.toString(), timestamp: v1.timestamp.cid.toString(), snapshot: v1.snapshot.cid.toString() })
    expect(first.continuity).toBe('first')
    expect(first.changed.items).toEqual(['timestamp', 'snapshot', 'targets', 'd1'])
    expect(first.fetched.sources).toHaveLength(1)
    expect(first.fetched.sources[0]!.blocks).toBeGreaterThan(0)
    expect(first.fetched.sources[0]!.bytes).toBeGreaterThan(0)

    await up.refresh(v2.timestamp.cid)
    const second = events[2]!
    if (second.type !== 'update.accepted') throw new Error(`expected update.accepted, got ${second.type}`)
    expect(second.from).toEqual({ root: v1.root.cid.toString(), timestamp: v1.timestamp.cid.toString() })
    expect(second.to.timestamp).toBe(v2.timestamp.cid.toString())
    expect(second.continuity).toBe('descends')
    // Only d1 changed below the top: the snapshot and timestamp with it, not the top-level targets.
    expect(second.changed).toEqual({ items: ['timestamp', 'snapshot', 'd1'], count: 3 })
    expect(second.rules).toContain('CLIENT-TS-DESCENDS')
    expect(second.rules).not.toContain('CLIENT-RECOVER')
    expect(second.rootSteps).toBe(0)
    // The blocks of v1 came from the cache.
    expect(second.fetched.cacheHits).toBeGreaterThan(0)

    const info = await up.getTargetInfo('d1/plugin.tgz')
    const out = join(dir.path, 'plugin.out')
    await up.downloadTarget(info!, out)
    const dl = events[3]!
    if (dl.type !== 'download') throw new Error(`expected download, got ${dl.type}`)
    expect(dl).toMatchObject({ operation: 'download', path: 'd1/plugin.tgz', cid: info!.cid.toString(), length: 'plugin v2'.length, role: 'd1' })
    expect(dl.fetched.sources[0]!.blocks).toBeGreaterThan(0)
    expect(dl.fetched.sources[0]!.bytes).toBeGreaterThanOrEqual('plugin v2'.length)
    expect(await readFile(out, 'utf8')).toBe('plugin v2')

    expect(events).toHaveLength(4)
    for (const e of events) plain(e)
    // The source label's credentials are in no event.
    const all = JSON.stringify(events)
    expect(all).not.toContain('s3cret')
    expect(all).not.toContain('t0ken')
    expect(all).not.toContain('alice')
    expect(all).toContain('https://gw.example/ipfs')
  })

  it('a refused update is one `refused` event with the rule ID (CLIENT-TS-DESCENDS), the CID at fault and the source; the state is unchanged and an honest update is then accepted', async () => {
    const { sim, v1, v2 } = await twoVersions()
    const events: UpdaterEvent[] = []
    const up = await client(sim, events)
    await up.refresh(v2.timestamp.cid)
    events.length = 0
    const e = await refusedUnchanged(dir.path, async () => await up.refresh(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
    expect(events).toHaveLength(1)
    const r = events[0]!
    if (r.type !== 'refused') throw new Error(`expected refused, got ${r.type}`)
    expect(r).toMatchObject({ operation: 'refresh', rule: 'CLIENT-TS-DESCENDS', cid: e.details.cid, source: 'https://gw.example/ipfs' })
    expect(r.cid).toBe(v1.timestamp.cid.toString())
    expect(r.violations.count).toBeGreaterThan(0)
    expect(r.violations.items[0]!.rule).toMatch(/^SUCC-/)
    plain(r)
    await sim.addTarget('targets', 'app.tgz', text('app v3'))
    const v3 = await sim.publish()
    await up.refresh(v3.timestamp.cid)
    expect(events.map((x) => x.type)).toEqual(['refused', 'update.accepted'])
  })

  it('content that does not match its CID is a `refused` event CLIENT-TARGET-CONTENT with the path; a source that cannot find a block is `failed` with its code', async () => {
    const { sim, v2 } = await twoVersions()
    const events: UpdaterEvent[] = []
    const up = await client(sim, events)
    await up.refresh(v2.timestamp.cid)
    const info = (await up.getTargetInfo('app.tgz'))!
    sim.store.tamper(info.cid, () => text('app v6'))
    events.length = 0
    await expect(up.downloadTarget(info, join(dir.path, 'app.out'))).rejects.toMatchObject({ code: 'CLIENT-TARGET-CONTENT' })
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ type: 'refused', operation: 'download', rule: 'CLIENT-TARGET-CONTENT', path: 'app.tgz', cid: info.cid.toString() })

    const missing: BlockSource = { get: async (cid: CID) => { throw new BlockError('ERR_BLOCK_NOT_FOUND', `no ${cid}`, { details: { cid: cid.toString() } }) } }
    const fresh = await tempDir('dagtuf-events-')
    try {
      const evs: UpdaterEvent[] = []
      const cold = await client(sim, evs, {}, fresh.path)
      const offline = await Updater.create({ dir: fresh.path, source: missing, unsafeReferenceTime: sim.now, onEvent: (x) => { evs.push(x) } })
      await expect(offline.refresh(v2.timestamp.cid)).rejects.toMatchObject({ code: 'ERR_BLOCK_NOT_FOUND' })
      expect(evs.map((x) => x.type)).toEqual(['init', 'failed'])
      expect(evs[1]).toMatchObject({ type: 'failed', operation: 'refresh', code: 'ERR_BLOCK_NOT_FOUND', cid: v2.timestamp.cid.toString(), source: 'source' })
      expect(cold.dir).toBe(fresh.path)
    } finally {
      await fresh.remove()
    }
  })

  it('a listener that throws, or returns a rejected promise, changes no outcome: the same state is accepted and the same refusal refused', async () => {
    const { sim, v1, v2 } = await twoVersions()
    const quiet = await tempDir('dagtuf-events-')
    try {
      const calls: string[] = []
      const throwing = await client(sim, [], { onEvent: (e) => { calls.push(e.type); throw new Error('listener bug') } })
      const rejecting = await client(sim, [], { onEvent: async (e) => { calls.push(e.type); throw new Error('async listener bug') } }, quiet.path)
      const a = await throwing.refresh(v2.timestamp.cid)
      const b = await rejecting.refresh(v2.timestamp.cid)
      expect({ ...a, fetched: null }).toEqual({ ...b, fetched: null })
      // Both folders hold the same state, byte for byte (the reference time is fixed).
      expect(await stateBytes(dir.path)).toBe(await stateBytes(quiet.path))
      // A refusal stays the refusal it is, not the listener's error.
      await refusedUnchanged(dir.path, async () => await throwing.refresh(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
      await refusedUnchanged(quiet.path, async () => await rejecting.refresh(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
      // And a download still writes its file.
      const info = (await throwing.getTargetInfo('app.tgz'))!
      await throwing.downloadTarget(info, join(dir.path, 'app.out'))
      expect(await readFile(join(dir.path, 'app.out'), 'utf8')).toBe('app v1')
      expect(calls).toEqual(['init', 'init', 'update.accepted', 'update.accepted', 'refused', 'refused', 'download'])
    } finally {
      await quiet.remove()
    }
  })

  it('lists are capped with their count: an update that changes more roles than EVENT_LIMITS.maxListed', async () => {
    const sim = await RepoSim.create({ seed: 5 })
    const n = EVENT_LIMITS.maxListed + 8
    for (let i = 0; i < n; i++) sim.delegate('targets', `r${String(i).padStart(3, '0')}`)
    const v = await sim.publish()
    const events: UpdaterEvent[] = []
    const up = await client(sim, events)
    await up.refresh(v.timestamp.cid)
    const e = events.at(-1)!
    if (e.type !== 'update.accepted') throw new Error(`expected update.accepted, got ${e.type}`)
    expect(e.changed.count).toBe(n + 3)
    expect(e.changed.items).toHaveLength(EVENT_LIMITS.maxListed)
    expect(e.changed.items.slice(0, 4)).toEqual(['timestamp', 'snapshot', 'targets', 'r000'])
  })

  it('untrusted text is bounded and URL credentials are removed from labels and messages', () => {
    const long = 'x'.repeat(5000)
    expect(boundedText(long)).toHaveLength(EVENT_LIMITS.maxText)
    expect(boundedText(long).endsWith('…')).toBe(true)
    // A surrogate pair is never cut in half.
    const emoji = 'a'.repeat(EVENT_LIMITS.maxText - 2) + '😀'.repeat(10)
    expect(boundedText(emoji)).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/)
    expect(capped([1, 2, 3])).toEqual({ items: [1, 2, 3], count: 3 })
    expect(withoutCredentials('GET http://u:p@h:8080/a/b?k=v#f failed; see ftp://x@y/z')).toBe('GET http://h:8080/a/b failed; see ftp://y/z')
    const e = errorEvent({ v: EVENT_VERSION, dir: '/d', operation: 'refresh', source: 's', path: long }, new BlockError('ERR_TRANSPORT', `fetch https://user:hunter2@gw/ipfs/x?auth=abc: ${long}`))
    expect(e.type).toBe('failed')
    expect(e.message.length).toBeLessThanOrEqual(EVENT_LIMITS.maxText)
    expect(e.message).not.toContain('hunter2')
    expect(e.message).not.toContain('auth=abc')
    expect(e.path).toHaveLength(EVENT_LIMITS.maxText)
  })

  it('the rules an accepted update reports are rule IDs of NOTES, the continuity that applied among them', () => {
    for (const c of ['first', 'same', 'descends', 'recovered']) {
      for (const rootChanged of [false, true]) {
        const rules = rulesChecked(c, rootChanged)
        for (const r of rules) expect(RULE_IDS).toContain(r)
        expect(rules.includes('CLIENT-TS-DESCENDS')).toBe(c === 'descends')
        expect(rules.includes('CLIENT-FLOOR')).toBe(c === 'recovered')
        expect(rules.includes('BOUND-ROOT-STEPS')).toBe(rootChanged)
      }
    }
  })
})
