/**
 * `dagtuf history` (issue 13 item 4) in-process: a real repository folder
 * (--dir) and a CAR exported from it (--car), in each format; the witness
 * of `<-*` highlighted, or refused with the relation's rule ID.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'

let work: TempDir
let repo: MadeRepo

beforeAll(async () => {
  work = await tempDir('dagtuf-cli-history-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n' })
  await publishMore(repo, work.path, { 'b.txt': 'B\n' })
  await publishMore(repo, work.path, { 'a.txt': 'A2\n' })
}, 60_000)
afterAll(async () => { await work.remove() })

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

interface Graph { head: string, nodes: Array<{ id: string, kind: string }>, lanes: Array<{ role: string, nodes: string[] }>, witness?: { path: string[] } }

describe('dagtuf history', () => {
  it('--dir --format json: every published timestamp, the snapshot chain, the targets chain', async () => {
    const r = await dagtuf('history', '--dir', repo.dir, '--format', 'json')
    expect(r.code).toBe(0)
    const g = JSON.parse(r.out.join('\n')) as Graph
    expect(g.head).toBe(repo.timestamps.at(-1))
    const ts = g.lanes.find((l) => l.role === 'timestamp')!.nodes
    expect(new Set(ts)).toEqual(new Set(repo.timestamps))
    expect(g.lanes.find((l) => l.role === 'snapshot')!.nodes).toHaveLength(repo.timestamps.length)
    expect(g.lanes.find((l) => l.role === 'targets')!.nodes.length).toBeGreaterThanOrEqual(3)
  })

  it('--car: the CAR\'s root is the head; --format dot and svg -o FILE', async () => {
    const car = join(work.path, 'h.car')
    expect((await dagtuf('export', '--dir', repo.dir, '--car', car, '--since', repo.timestamps[1]!)).code).toBe(0)
    const dot = await dagtuf('history', '--car', car, '--format', 'dot', '--since', repo.timestamps[1]!)
    expect(dot.code).toBe(0)
    expect(dot.out.join('\n')).toMatch(/^digraph history \{/)
    expect(dot.out.join('\n')).toContain(`"${repo.timestamps.at(-1)!}"`)
    const file = join(work.path, 'h.svg')
    const svg = await dagtuf('history', '--car', car, '--since', repo.timestamps[1]!, '-o', file, '--json')
    expect(svg.code).toBe(0)
    const text = await readFile(file, 'utf8')
    expect(text).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    expect((JSON.parse(svg.out[0]!) as Graph).head).toBe(repo.timestamps.at(-1))
    // A head that is not a timestamp: the rule, not a crash.
    const notTs = await dagtuf('history', '--car', car, '--timestamp', repo.root, '--json')
    expect(notTs.code).toBe(1)
    expect(JSON.parse(notTs.out[0]!)).toMatchObject({ error: { code: 'VALID-KIND', cid: repo.root } })
  })

  it('--from --to: the witness path; backwards it is refused with SUCC-STAR (exit 1)', async () => {
    const [t0, , t2, t3] = [repo.timestamps[0]!, repo.timestamps[1]!, repo.timestamps[2]!, repo.timestamps[3]!]
    const ok = await dagtuf('history', '--dir', repo.dir, '--from', t3, '--to', t2, '--json')
    expect(ok.code).toBe(0)
    const g = JSON.parse(ok.out[0]!) as Graph
    expect(g.witness!.path[0]).toBe(t3)
    expect(g.witness!.path.at(-1)).toBe(t2)
    const back = await dagtuf('history', '--dir', repo.dir, '--from', t0, '--to', t3, '--json')
    expect(back.code).toBe(1)
    expect(JSON.parse(back.out[0]!)).toMatchObject({ error: { code: 'SUCC-STAR', cid: t0 } })
  })

  it('usage errors: no source, both sources, a bad format, --from without --to', async () => {
    expect((await dagtuf('history')).code).toBe(2)
    expect((await dagtuf('history', '--dir', repo.dir, '--car', 'x.car')).code).toBe(2)
    expect((await dagtuf('history', '--dir', repo.dir, '--format', 'png')).code).toBe(2)
    expect((await dagtuf('history', '--dir', repo.dir, '--from', repo.timestamps[0]!)).code).toBe(2)
  })
})
