/**
 * historyOfTrusted (src/browser/inspect.ts) on Node, over a folder client:
 * the picture below the TRUSTED head (not the repository's newest), the
 * timestamps given drawn beside it, its bounds (maxNodes: the snapshots
 * left out counted), argument checks, and the trusted state only read.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RepoBlockFiles } from '../../src/blocks/repo-files.js'
import { historyOfTrusted } from '../../src/browser/inspect.js'
import { ClientStore } from '../../src/client/store.js'
import { Updater } from '../../src/client/updater.js'
import { rejects, tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'

let work: TempDir
let repo: MadeRepo
let client: string

beforeAll(async () => {
  work = await tempDir('dagtuf-inspect-history-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n' })
  for (let i = 0; i < 5; i++) await publishMore(repo, work.path, { [`f${i}.txt`]: `${i}\n` })
  client = join(work.path, 'client')
  const up = await Updater.create({ dir: client, source: new RepoBlockFiles(repo.dir) })
  await up.init(repo.root)
  // Trusted: the 5th timestamp, not the newest (the 7th).
  await up.refresh(CID.parse(repo.timestamps[4]!))
}, 120_000)
afterAll(async () => { await work.remove() })

describe('historyOfTrusted', () => {
  it('draws below the trusted head, with the timestamps given, and leaves the state as it was', async () => {
    const state = await readFile(join(client, 'state.json'))
    const storage = await ClientStore.open(client)
    const { history, svg } = await historyOfTrusted(storage, new RepoBlockFiles(repo.dir), { timestamps: [repo.timestamps[2]!] })
    expect(history.head).toBe(repo.timestamps[4])
    expect(history.lanes.find((l) => l.role === 'timestamp')!.nodes).toEqual([repo.timestamps[4], repo.timestamps[2]])
    expect(history.lanes.find((l) => l.role === 'snapshot')!.nodes).toHaveLength(5)
    expect(history.omitted.snapshots).toBe(0)
    expect(svg).toContain(`data-cid="${repo.timestamps[2]}"`)
    expect(svg).not.toContain(repo.timestamps[6]!)
    expect(await readFile(join(client, 'state.json'))).toEqual(state)
  })

  it('is bounded: with maxNodes 6, two snapshots are drawn and the three older ones counted', async () => {
    const { history } = await historyOfTrusted(await ClientStore.open(client), new RepoBlockFiles(repo.dir), { maxNodes: 6 })
    expect(history.nodes.length).toBeLessThanOrEqual(6)
    expect(history.lanes.find((l) => l.role === 'snapshot')!.nodes).toHaveLength(2)
    expect(history.omitted.snapshots).toBe(3)
  })

  it('refuses bad options (ERR_ARGUMENT) and a client with no update (ERR_STATE_NO_UPDATE)', async () => {
    const storage = await ClientStore.open(client)
    await rejects(historyOfTrusted(storage, undefined, { maxNodes: 0 }), 'ERR_ARGUMENT')
    await rejects(historyOfTrusted(storage, undefined, { maxRoles: 1e9 }), 'ERR_ARGUMENT')
    await rejects(historyOfTrusted(storage, undefined, { timestamps: ['not a cid'] }), 'ERR_ARGUMENT')
    const fresh = join(work.path, 'fresh')
    await (await Updater.create({ dir: fresh, source: new RepoBlockFiles(repo.dir) })).init(repo.root)
    await rejects(historyOfTrusted(await ClientStore.open(fresh)), 'ERR_STATE_NO_UPDATE')
  })
})
