/**
 * DELEG-SUCCINCT end to end, in the shape of PEP 458 (small): top-level
 * targets delegates succinct hash bins; the publisher creates every bin and
 * sends each added file to its bin; VALID accepts the DAG; a client updates
 * and fetches a target from its bin; an attacker's target in the wrong bin is
 * refused by the search.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { Updater } from '../../src/client/updater.js'
import type { BlockSource, GetOptions } from '../../src/blocks/types.js'
import type { CID } from 'multiformats/cid'
import { binName, binOfHash } from '../../src/model/delegations.js'
import { pathHash } from '../../src/validate/delegation.js'
import { ok, verifyRepoHead } from '../cli/publish-helpers.js'

let work: string
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'dagtuf-bins-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

describe('succinct hash bins', () => {
  it('DELEG-SUCCINCT, CLIENT-VALID-TOP: publish 2^6 bins, add a folder into them, update a client (reading no bin) and fetch from a bin (reading one)', async () => {
    const dir = join(work, 'repo')
    await ok('init', '--dir', dir)
    const key = join(dir, 'keys', 'bins.json')
    await ok('keygen', '--out', key)
    await ok('delegate', '--dir', dir, 'bins', '--key', `${key}.pub`, '--succinct', '6')
    const p1 = await ok('publish', '--dir', dir)
    // Every bin exists (TAP 15), empty.
    expect(Object.keys(p1.delegated as object)).toHaveLength(64)
    expect((p1.delegated as Record<string, string>)['bins-3f']).toBeDefined()

    const files = join(work, 'pkgs')
    await mkdir(files)
    for (let i = 0; i < 40; i++) await writeFile(join(files, `pkg-${i}.tar.gz`), `package ${i}\n`)
    const added = await ok('add', '--dir', dir, files, '--role', 'bins')
    const list = added.added as Array<{ path: string, role: string }>
    expect(list).toHaveLength(40)
    for (const a of list) expect(a.role).toBe(binName({ bitLength: 6, namePrefix: 'bins' }, binOfHash(6, pathHash(a.path))))
    const p2 = await ok('publish', '--dir', dir)
    await verifyRepoHead(dir, p1.timestamp as string)
    // The bins' signer publishes with only her key: --role PREFIX checks it against the bins.
    const one = join(work, 'one.tar.gz')
    await writeFile(one, 'one more\n')
    const signed = await ok('add', '--dir', dir, one, '--path', 'pkgs/one.tar.gz', '--role', 'bins', '--key', key)
    const p3 = JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as { timestamp: string }
    expect(signed.timestamp).toBe(p3.timestamp)
    expect(p3.timestamp).not.toBe(p2.timestamp)
    const changed = new Set(list.map((a) => a.role))
    const d1 = p1.delegated as Record<string, string>
    const d2 = p2.delegated as Record<string, string>
    // Only the bins that received a file have a new object.
    expect(Object.keys(d2).filter((n) => d2[n] !== d1[n]).sort()).toEqual([...changed].sort())

    const node = await openRepoNode(dir)
    try {
      const client = join(work, 'client')
      const asked: string[] = []
      const counting: BlockSource = { get: async (cid: CID, o?: GetOptions) => { asked.push(cid.toString()); return await node.get(cid, o) } }
      const up = await Updater.create({ dir: client, source: counting })
      const head = JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as { root: string, timestamp: string, delegated: Record<string, string> }
      // The first root, handed out of band (the repository's root never rotated here).
      await up.init(head.root)
      await up.refresh(head.timestamp)
      // CLIENT-VALID-TOP: the update reads no bin; the search reads the one bin it visits.
      const binCids = new Set(Object.values(head.delegated))
      expect(asked.filter((c) => binCids.has(c))).toEqual([])
      const path = 'pkgs/pkg-7.tar.gz'
      const info = (await up.getTargetInfo(path))!
      expect(asked.filter((c) => binCids.has(c))).toEqual([head.delegated[info.role]])
      expect(info.role).toBe(binName({ bitLength: 6, namePrefix: 'bins' }, binOfHash(6, pathHash(path))))
      expect(info.chain).toEqual(['targets', info.role])
      const got = await up.downloadTarget(info, join(work, 'pkg-7.tar.gz'))
      expect(await readFile(got.path, 'utf8')).toBe('package 7\n')
      expect(await up.getTargetInfo('pkgs/none.tar.gz')).toBeNull()
    } finally {
      await node.close()
    }
  })
})
