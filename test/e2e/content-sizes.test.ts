/**
 * CLIENT-TARGET-CONTENT end to end: target content whose UnixFS metadata
 * lies about its size. The signed CID names the lying DAG exactly, so the
 * hash checks pass; the client must still refuse it, because other IPFS
 * tools trust the declared `filesize` (stat, seek, range requests) and
 * would see another file than the one the client verified.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RepoSim } from '../helpers/history.js'
import { rejects, stateBytes, tempDir, text, updaterFor, type TempDir } from '../helpers/client-sim.js'
import { pbNodeOf, unixfsData } from '../helpers/unixfs-nodes.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-content-') })
afterEach(async () => { await dir.remove() })

describe('UnixFS sizes that lie (CLIENT-TARGET-CONTENT)', () => {
  it('CLIENT-TARGET-CONTENT: a signed target whose root declares filesize 999 but yields 5 bytes is refused, no file is left, and honest content still downloads', async () => {
    const sim = await RepoSim.create({ seed: 51, topKeys: TOP })
    const hello = text('hello')
    const liar = pbNodeOf(unixfsData({ data: hello, filesizes: [999n] }))
    const honest = pbNodeOf(unixfsData({ data: hello, filesizes: [5n] }))
    // A lying inner node under an honest-looking root.
    const leaf = pbNodeOf(unixfsData({ data: text(' world'), filesizes: [60n] }))
    const nested = pbNodeOf(unixfsData({ data: hello, filesizes: [11n], sizes: [6n] }), [leaf.cid])
    for (const b of [liar, honest, leaf, nested]) await sim.store.put(b.cid, b.bytes)
    await sim.addTarget('targets', 'plain.txt', text('plain'))
    await sim.publish()
    // The targets key signs what it was handed: the CIDs and their true lengths.
    const targets = await sim.forgeTargets('targets', (t) => ({
      ...t,
      targets: new Map([...t.targets, ['liar.txt', { cid: liar.cid, length: 5 }], ['honest.txt', { cid: honest.cid, length: 5 }], ['nested.txt', { cid: nested.cid, length: 11 }]])
    }))
    const snap = await sim.forgeSnapshot({ targets: targets.cid })
    const up = await updaterFor(sim, dir.path)
    await up.refresh((await sim.forgeTimestamp(snap.cid)).cid)
    const before = await stateBytes(dir.path)

    for (const [path, bad] of [['liar.txt', liar.cid], ['nested.txt', leaf.cid]] as const) {
      const info = (await up.getTargetInfo(path))!
      const e = await rejects(up.downloadTarget(info, join(dir.path, path)), 'CLIENT-TARGET-CONTENT', 'ValidationError')
      expect(e.details).toMatchObject({ cid: info.cid.toString(), reason: 'ERR_UNIXFS_INVALID', block: bad.toString() })
      expect((await readdir(dir.path)).filter((n) => n.includes(path))).toEqual([])
    }
    expect(await stateBytes(dir.path)).toBe(before)

    // The same bytes with a truthful filesize, and raw content, are accepted from the same state.
    const ok = await up.downloadTarget((await up.getTargetInfo('honest.txt'))!, join(dir.path, 'honest.txt'))
    expect(await readFile(ok.path, 'utf8')).toBe('hello')
    const plain = await up.downloadTarget((await up.getTargetInfo('plain.txt'))!, join(dir.path, 'plain.txt'))
    expect(await readFile(plain.path, 'utf8')).toBe('plain')
  })
})
