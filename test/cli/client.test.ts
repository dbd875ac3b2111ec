/** The client commands in-process (src/cli/main.ts), with --repo as the block source. */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'

let work: TempDir
let repo: MadeRepo

beforeAll(async () => {
  work = await tempDir('dagtuf-cli-client-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n', 'sub/b.txt': 'B\n' })
}, 60_000)
afterAll(async () => { await work.remove() })

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

describe('dagtuf client', () => {
  it('init, update, list and get from a local repository (--repo), then list offline', async () => {
    const dir = join(work.path, 'c1')
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir)).code).toBe(0)
    const up = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--json')
    expect(up.code).toBe(0)
    expect(JSON.parse(up.out[0]!)).toMatchObject({ timestamp: repo.timestamps[1], continuity: 'first', changed: ['timestamp', 'snapshot', 'targets'] })
    const out = join(work.path, 'b.txt')
    const get = await dagtuf('client', 'get', '--dir', dir, 'sub/b.txt', '-o', out, '--repo', repo.dir)
    expect(get.code).toBe(0)
    expect(get.out.join('\n')).toMatch(/sub\/b\.txt: 2 bytes, bafkrei\w+, signed by role targets, verified/)
    expect(await readFile(out, 'utf8')).toBe('B\n')
    // No source: the trusted DAG comes from the local cache.
    const list = await dagtuf('client', 'list', '--dir', dir, '--json')
    expect(list.code).toBe(0)
    expect((JSON.parse(list.out[0]!) as { targets: Array<{ path: string }> }).targets.map((t) => t.path)).toEqual(['a.txt', 'sub/b.txt'])
    // get --update moves to a newer head first.
    const ts = await publishMore(repo, work.path, { 'c.txt': 'C\n' })
    const got = await dagtuf('client', 'get', '--dir', dir, 'c.txt', '--output', join(work.path, 'c.txt'), '--update', '--repo', repo.dir, '--json')
    expect(got.code).toBe(0)
    expect(JSON.parse(got.out[0]!)).toMatchObject({ path: 'c.txt', length: 2, update: { timestamp: ts, continuity: 'descends' } })
  })

  it('refusals and mistakes exit non-zero with stable codes', async () => {
    const dir = join(work.path, 'c2')
    expect((await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir)).err.join('')).toMatch(/ERR_STATE_MISSING/)
    expect((await dagtuf('client', 'init', '--dir', dir, '--repo', repo.dir)).code).toBe(2) // no --root
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root)).code).toBe(2) // no source
    // Several sources may be mixed (src/blocks/source-set.ts); one that cannot be opened fails the command.
    const mixed = await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir, '--car', join(work.path, 'absent.car'), '--json')
    expect(mixed.code).toBe(1)
    expect(JSON.parse(mixed.out[0]!)).toMatchObject({ error: { name: 'BlockError' } })
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir, '--race', '--hedge', '10')).code).toBe(2)
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir, '--race')).code).toBe(2)
    const notRoot = await dagtuf('client', 'init', '--dir', dir, '--root', repo.timestamps[0]!, '--repo', repo.dir, '--json')
    expect(notRoot.code).toBe(1)
    expect(JSON.parse(notRoot.out[0]!)).toMatchObject({ error: { code: 'VALID-KIND', cid: repo.timestamps[0] } })
    // A --root that is not a CID is a command-line mistake, like in every other command.
    const notCid = await dagtuf('client', 'init', '--dir', dir, '--root', 'not-a-cid', '--repo', repo.dir)
    expect(notCid.code).toBe(2)
    expect(notCid.err.join('')).toMatch(/ERR_USAGE/)
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir)).code).toBe(0)
    const before = await readFile(join(dir, 'state.json'), 'utf8')
    expect((await dagtuf('client', 'get', '--dir', dir, 'a.txt', '--repo', repo.dir)).code).toBe(2) // no -o
    const noUpdate = await dagtuf('client', 'get', '--dir', dir, 'a.txt', '-o', join(work.path, 'x'), '--repo', repo.dir)
    expect(noUpdate.err.join('')).toMatch(/ERR_STATE_NO_UPDATE/)
    const other = await dagtuf('client', 'init', '--dir', dir, '--root', repo.timestamps[1]!, '--repo', repo.dir)
    expect(other.err.join('')).toMatch(/ERR_STATE_EXISTS/)
    const rollback = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--timestamp', repo.timestamps[0]!)
    expect(rollback.code).toBe(0) // the first timestamp is a fine first update...
    const newer = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir)
    expect(newer.code).toBe(0)
    const back = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--timestamp', repo.timestamps[0]!)
    expect(back.code).toBe(1) // ...but not after a newer one
    expect(back.err.join('')).toMatch(/^dagtuf: CLIENT-TS-DESCENDS: timestamp baguqeera\w+ does not descend from the trusted timestamp/)
    expect(before).not.toBe(await readFile(join(dir, 'state.json'), 'utf8'))
    const missing = await dagtuf('client', 'get', '--dir', dir, 'nope.txt', '-o', join(work.path, 'x'), '--repo', repo.dir)
    expect(missing.err.join('')).toMatch(/ERR_TARGET_NOT_LISTED/)
  })
})
