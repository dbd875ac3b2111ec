/**
 * The audit log (NOTES 10.3, src/publish/audit.ts): what a publish writes,
 * and every kind of damage `audit verify` must find, each with its rule:
 * an entry changed, removed or moved (AUDIT-CHAIN), a chain re-linked out of
 * order (AUDIT-ORDER), a truncated or moved-back pointer or a cut chain
 * (AUDIT-HEAD), a published head missing from the log (AUDIT-COVERS); and
 * that refused pushes grow it by a bounded number of entries
 * (AUDIT-REFUSALS-BOUNDED).
 */
import { cp, readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagJson from '@ipld/dag-json'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cidOf } from '../../src/model/codec.js'
import { RefusalAudit, appendAudit, verifyAudit } from '../../src/publish/audit.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { dagtufJson } from '../helpers/cli.js'

let work: TempDir
let base: MadeRepo
let n = 0

beforeAll(async () => {
  work = await tempDir('dagtuf-audit-')
  base = await makeRepo(join(work.path, 'base'), work.path, { 'a.txt': 'A\n' })
  await publishMore(base, work.path, { 'b.txt': 'B\n' })
}, 60_000)
afterAll(async () => { await work.remove() })

async function copy (): Promise<string> {
  const dir = join(work.path, `r${++n}`)
  await cp(base.dir, dir, { recursive: true })
  return dir
}

const dagtuf = dagtufJson

const chainFile = (dir: string): string => join(dir, 'audit', 'chain.jsonl')
const pointerFile = (dir: string): string => join(dir, 'audit', 'pointer.json')

async function lines (dir: string): Promise<string[]> {
  return (await readFile(chainFile(dir), 'utf8')).split('\n').slice(0, -1)
}

/** Write `entries` as a consistent chain (every link and the pointer re-made), as a forger with write access could. */
async function rewriteConsistently (dir: string, entries: Array<Record<string, any>>): Promise<void> {
  let prev: any = null
  let bytes = 0
  const out: string[] = []
  let last: { cid: string, seq: number, time: string } | undefined
  for (const e of entries) {
    const line = dagJson.encode({ ...e, prev })
    prev = cidOf(line)
    bytes += line.byteLength + 1
    out.push(Buffer.from(line).toString('utf8'))
    last = { cid: prev.toString(), seq: e.seq, time: e.time }
  }
  await writeFile(chainFile(dir), out.map((l) => l + '\n').join(''))
  await writeFile(pointerFile(dir), JSON.stringify({ format: 'dagtuf-audit-head/1', ...last, bytes }) + '\n')
}

async function decoded (dir: string): Promise<Array<Record<string, any>>> {
  return (await lines(dir)).map((l) => dagJson.decode(Buffer.from(l)) as Record<string, any>)
}

async function problem (dir: string): Promise<string | undefined> {
  const r = await dagtuf('audit', 'verify', '--dir', dir)
  if (r.json.ok === true) expect(r.code).toBe(0)
  else expect(r.code).toBe(1)
  return (r.json.problems as Array<{ rule: string }>)[0]?.rule
}

describe('the audit log of a repository', () => {
  it('AUDIT-COVERS AUDIT-CHAIN: init and two publishes make start + three publish entries, chained, that cover every head; audit show prints them', async () => {
    const r = await verifyAudit(base.dir)
    expect(r.problems).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.entries.map((e) => e.entry.action)).toEqual(['start', 'publish', 'publish', 'publish'])
    expect(r.entries.slice(1).map((e) => e.entry.details.timestamp)).toEqual(base.timestamps)
    expect(r.entries[0]!.entry.details.head).toBeNull()
    for (const [i, e] of r.entries.entries()) {
      expect(e.entry.seq).toBe(i + 1)
      expect(e.entry.prev?.toString() ?? null).toBe(i === 0 ? null : r.entries[i - 1]!.cid.toString())
    }
    expect(r.head).toEqual({ cid: r.entries[3]!.cid.toString(), seq: 4 })
    const v = await dagtuf('audit', 'verify', '--dir', base.dir)
    expect(v.code).toBe(0)
    expect(v.json).toMatchObject({ ok: true, entries: 4, problems: [], incomplete: [], unacknowledged: 0 })
    const show = await dagtuf('audit', 'show', '--dir', base.dir)
    expect(show.code).toBe(0)
    expect(show.json.entries.map((e: { action: string }) => e.action)).toEqual(['start', 'publish', 'publish', 'publish'])
    expect(show.json.entries[3].details.timestamp).toBe(base.timestamps[2])
  })

  it('AUDIT-CHAIN: an entry changed (a timestamp swapped, re-encoded canonically) is found at the next entry', async () => {
    const dir = await copy()
    const ls = await lines(dir)
    const e = dagJson.decode(Buffer.from(ls[1]!)) as Record<string, any>
    e.details.timestamp = base.timestamps[2]
    ls[1] = Buffer.from(dagJson.encode(e)).toString('utf8')
    await writeFile(chainFile(dir), ls.map((l) => l + '\n').join(''))
    expect(await problem(dir)).toBe('AUDIT-CHAIN')
    const r = await verifyAudit(dir)
    expect(r.problems[0]!.seq).toBe(3)
  })

  it('AUDIT-CHAIN: an entry deleted, or two entries swapped, breaks the link', async () => {
    const del = await copy()
    const ls = await lines(del)
    await writeFile(chainFile(del), [ls[0], ls[2], ls[3]].map((l) => l! + '\n').join(''))
    expect(await problem(del)).toBe('AUDIT-CHAIN')
    const swap = await copy()
    await writeFile(chainFile(swap), [ls[0], ls[2], ls[1], ls[3]].map((l) => l! + '\n').join(''))
    expect(await problem(swap)).toBe('AUDIT-CHAIN')
    // A line that is not an entry at all.
    const junk = await copy()
    await writeFile(chainFile(junk), [ls[0], '{"not":"an entry"}', ls[2], ls[3]].map((l) => l! + '\n').join(''))
    expect(await problem(junk)).toBe('AUDIT-CHAIN')
  })

  it('AUDIT-ORDER: a chain re-linked consistently after an entry was dropped, or with a time going back, is still caught', async () => {
    const gap = await copy()
    const es = await decoded(gap)
    await rewriteConsistently(gap, [es[0]!, es[1]!, es[3]!])
    expect(await problem(gap)).toBe('AUDIT-ORDER')
    const back = await copy()
    const bs = await decoded(back)
    bs[2]!.time = '2000-01-01T00:00:00.000Z'
    await rewriteConsistently(back, bs)
    expect(await problem(back)).toBe('AUDIT-ORDER')
    // Re-linked and re-numbered after dropping a publish: the order holds, the publish is missing.
    const drop = await copy()
    const ds = await decoded(drop)
    await rewriteConsistently(drop, [ds[0]!, ds[1]!, { ...ds[3]!, seq: 3 }])
    expect(await problem(drop)).toBe('AUDIT-COVERS')
  })

  it('AUDIT-HEAD: a truncated or emptied pointer, the last entry changed or cut off, are each found; appending to such a log is refused with the head unchanged', async () => {
    const empty = await copy()
    await writeFile(pointerFile(empty), '')
    expect(await problem(empty)).toBe('AUDIT-HEAD')
    // Removed: the four entries are more than one append writes.
    const gone = await copy()
    const { rm } = await import('node:fs/promises')
    await rm(pointerFile(gone))
    expect(await problem(gone)).toBe('AUDIT-HEAD')
    const half = await copy()
    const p = await readFile(pointerFile(half))
    await writeFile(pointerFile(half), p.subarray(0, p.byteLength >> 1))
    expect(await problem(half)).toBe('AUDIT-HEAD')

    const last = await copy()
    const ls = await lines(last)
    const e = dagJson.decode(Buffer.from(ls[3]!)) as Record<string, any>
    e.details.source = ''
    ls[3] = Buffer.from(dagJson.encode(e)).toString('utf8')
    await writeFile(chainFile(last), ls.map((l) => l + '\n').join(''))
    expect(await problem(last)).toBe('AUDIT-HEAD')
    const refusedOverChanged = await dagtuf('publish', '--dir', last, '--refresh', 'targets')
    expect(refusedOverChanged.json.error?.code).toBe('ERR_REPO_CORRUPT')

    const cut = await copy()
    const whole = await readFile(chainFile(cut))
    const lsCut = await lines(cut)
    await truncate(chainFile(cut), whole.byteLength - lsCut[3]!.length - 1)
    expect(await problem(cut)).toBe('AUDIT-HEAD')

    // Fail closed: no publish over a log whose tail is not its pointer.
    const head = await readFile(join(cut, 'head.json'))
    const r = await dagtuf('publish', '--dir', cut, '--refresh', 'targets')
    expect(r.code).toBe(1)
    expect(r.json.error.code).toBe('ERR_REPO_CORRUPT')
    expect(await readFile(join(cut, 'head.json'))).toEqual(head)
  })

  it('AUDIT-HEAD: whole entries past the pointer (an append that stopped before its pointer) are reported, not failed, and taken over by the next append; a partial line is cut', async () => {
    const dir = await copy()
    const pointer = await readFile(pointerFile(dir))
    await appendAudit(dir, [{ action: 'draft-withdrawn', details: { draft: 'draft-0011223344' } }])
    await writeFile(pointerFile(dir), pointer)
    const r = await verifyAudit(dir)
    expect(r.ok).toBe(true)
    expect(r.unacknowledged).toBe(1)
    await writeFile(chainFile(dir), Buffer.concat([await readFile(chainFile(dir)), Buffer.from('{"action":"pub')]))
    expect((await verifyAudit(dir)).ok).toBe(true)
    const pub = await dagtuf('publish', '--dir', dir, '--refresh', 'targets')
    expect(pub.code, JSON.stringify(pub.json)).toBe(0)
    const after = await verifyAudit(dir)
    expect(after.problems).toEqual([])
    expect(after.unacknowledged).toBe(0)
    expect(after.entries.map((x) => x.entry.action).slice(-2)).toEqual(['draft-withdrawn', 'publish'])
    // The pointer moved back by more than one append is a failure (six entries: more than one append writes, whatever their times).
    const back = await copy()
    for (let i = 0; i < 6; i++) await appendAudit(back, [{ action: 'draft-withdrawn', details: { draft: 'draft-0011223344' } }])
    await writeFile(pointerFile(back), pointer)
    expect(await problem(back)).toBe('AUDIT-HEAD')
  })

  it('AUDIT-ANCHOR: a chain rewritten consistently passes on its own, and fails against an anchor kept from before; an anchor it still holds passes', async () => {
    const dir = await copy()
    const before = await verifyAudit(dir)
    const anchor = before.head!.cid
    const es = await decoded(dir)
    es[1]!.details.source = 'forged'
    await rewriteConsistently(dir, es)
    expect(await problem(dir)).toBeUndefined()
    const r = await dagtuf('audit', 'verify', '--dir', dir, '--anchor', anchor)
    expect(r.code).toBe(1)
    expect(r.json.problems[0].rule).toBe('AUDIT-ANCHOR')
    // The start entry was not rewritten: anchoring it passes.
    const start = before.entries[0]!.cid.toString()
    expect((await dagtuf('audit', 'verify', '--dir', dir, '--anchor', start)).code).toBe(0)
    expect((await dagtuf('audit', 'verify', '--dir', dir, '--anchor', 'not-a-cid')).code).toBe(2)
  })

  it('AUDIT-COVERS: a published head with no entry (log.jsonl names one the audit does not) fails; a repository without an audit log says so', async () => {
    const dir = await copy()
    const es = await decoded(dir)
    await rewriteConsistently(dir, es.slice(0, 3))
    expect(await problem(dir)).toBe('AUDIT-COVERS')
    const none = await copy()
    const { rm } = await import('node:fs/promises')
    await rm(join(none, 'audit'), { recursive: true })
    expect(await problem(none)).toBe('AUDIT-COVERS')
    // The next action starts a new log at the current head: covered from there on.
    expect((await dagtuf('publish', '--dir', none, '--refresh', 'targets')).code).toBe(0)
    const r = await verifyAudit(none)
    expect(r.problems).toEqual([])
    expect(r.entries.map((e) => e.entry.action)).toEqual(['start', 'publish'])
    expect(r.entries[0]!.entry.details.head).toBe(base.timestamps[2])
  })

  it('AUDIT-COVERS: a key rotation is logged as a publish and a root-changed entry naming both roots', async () => {
    const dir = await copy()
    expect((await dagtuf('rotate', '--dir', dir, 'timestamp', '--keys', '1')).code).toBe(0)
    const r = await dagtuf('publish', '--dir', dir)
    expect(r.code, JSON.stringify(r.json)).toBe(0)
    const v = await verifyAudit(dir)
    expect(v.problems).toEqual([])
    const tail = v.entries.slice(-2).map((e) => e.entry)
    expect(tail.map((e) => e.action)).toEqual(['publish', 'root-changed'])
    expect(tail[1]!.details.to).not.toBe(tail[1]!.details.from)
    expect(tail[1]!.details.from).toBe(v.entries[v.entries.length - 3]!.entry.details.root)
    expect(tail[1]!.details.to).toBe(tail[0]!.details.root)
  })
})

describe('what an entry may hold', () => {
  it('AUDIT-NO-SECRETS: details that are not short printable strings, numbers, string lists or code counts are refused before anything is written', async () => {
    const dir = await copy()
    const chain = await readFile(chainFile(dir))
    const bad: Array<Record<string, unknown>> = [
      { key: 'x'.repeat(257) },
      { key: 'line\nbreak' },
      { key: { nested: { object: 1 } } },
      { key: new Uint8Array(32) },
      { key: Array(65).fill('a') },
      { 'not a key': 'v' },
      Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, i]))
    ]
    for (const details of bad) {
      await expect(appendAudit(dir, [{ action: 'draft-withdrawn', details: details as any }])).rejects.toThrow(RangeError)
    }
    expect(await readFile(chainFile(dir))).toEqual(chain)
    // What the builders make is accepted.
    await appendAudit(dir, [{ action: 'draft-withdrawn', details: { draft: 'draft-0011223344', keyids: ['ab'.repeat(32)], codes: { ERR_BAD_CAR: 2 }, count: 2, ok: true, none: null } }])
    expect((await verifyAudit(dir)).ok).toBe(true)
  })
})

describe('drafts made and signed with the CLI', () => {
  it('AUDIT-WRITE-AHEAD: publish without the targets key makes a draft (draft-created); sign --key publishes it (draft-signed, publish, draft-completed)', async () => {
    const dir = await copy()
    const { readdir, rename, mkdir } = await import('node:fs/promises')
    const vault = join(work.path, `vault${n}`)
    await mkdir(vault)
    const name = (await readdir(join(dir, 'keys'))).find((f) => f.startsWith('targets-'))!
    await rename(join(dir, 'keys', name), join(vault, 'targets.json'))
    await writeFile(join(work.path, `c${n}.txt`), 'C\n')
    expect((await dagtuf('add', '--dir', dir, join(work.path, `c${n}.txt`))).code).toBe(0)
    const d = await dagtuf('publish', '--dir', dir)
    expect(d.code, JSON.stringify(d.json)).toBe(0)
    const before = (await verifyAudit(dir)).entries.length
    const s = await dagtuf('sign', '--dir', dir, '--key', join(vault, 'targets.json'))
    expect(s.code, JSON.stringify(s.json)).toBe(0)
    const v = await verifyAudit(dir)
    expect(v.problems).toEqual([])
    const made = v.entries[before - 1]!.entry
    expect(made.action).toBe('draft-created')
    const id = made.details.draft as string
    expect(id).toMatch(/^draft-[0-9a-f]+$/)
    const rest = v.entries.slice(before).map((e) => e.entry)
    expect(rest.map((e) => e.action)).toEqual(['draft-signed', 'publish', 'draft-completed'])
    expect(rest[0]!.details).toMatchObject({ draft: id, roles: ['targets'] })
    expect(rest[1]!.details.source).toBe(id)
  })
})

describe('refused pushes', () => {
  it('AUDIT-REFUSALS-BOUNDED: 50 refusals in one window write 10 entries one by one and one count of the other 40 when the window ends', async () => {
    const dir = await copy()
    const before = (await verifyAudit(dir)).entries.length
    let t = 1_000_000
    const audit = new RefusalAudit(dir, { perWindow: 10, windowMs: 60_000, now: () => t })
    for (let i = 0; i < 50; i++) await audit.refused({ code: i % 2 === 0 ? 'ERR_NOT_SUCCESSOR' : 'ERR_BAD_CAR', status: i % 2 === 0 ? 422 : 400, ...(i % 2 === 0 ? { rule: 'SUCC-TS-SNAPSHOT' } : {}) })
    let r = await verifyAudit(dir)
    expect(r.ok).toBe(true)
    expect(r.entries.length - before).toBe(10)
    t += 60_000
    await audit.refused({ code: 'ERR_BAD_CAR', status: 400 })
    r = await verifyAudit(dir)
    const added = r.entries.slice(before).map((e) => e.entry)
    expect(added).toHaveLength(12)
    expect(added.filter((e) => e.action === 'push-refused')).toHaveLength(11)
    const summary = added.find((e) => e.action === 'push-refusals')!
    expect(summary.details).toMatchObject({ count: 40, codes: { ERR_BAD_CAR: 20, ERR_NOT_SUCCESSOR: 20 } })
    expect(added[0]!.details).toEqual({ code: 'ERR_NOT_SUCCESSOR', status: 422, rule: 'SUCC-TS-SNAPSHOT' })
    // flush at close writes what is counted and nothing when nothing is.
    for (let i = 0; i < 20; i++) await audit.refused({ code: 'ERR_BAD_CAR', status: 400 })
    await audit.flush()
    await audit.flush()
    const end = (await verifyAudit(dir)).entries.slice(before + 12).map((e) => e.entry)
    expect(end.map((e) => e.action)).toEqual([...Array(9).fill('push-refused'), 'push-refusals'])
    expect(end[9]!.details.count).toBe(11)
  })
})
