/**
 * Drafts (src/publish/drafts.ts): the file format read strictly, signatures
 * collected one key at a time or merged from a copy, requirements taken from
 * the repository (never from the draft's own `needs`), freshness against the
 * head, and the drafts/ folder.
 */
import { readdir } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { RepoError } from '../../src/model/errors.js'
import { toHexSig } from '../../src/model/keys.js'
import { withSignatures } from '../../src/model/sign.js'
import type { Envelope, TargetsSigned } from '../../src/model/types.js'
import {
  checkFresh, complete, draftNeeds, draftText, listDrafts, mergeSignatures, needsReport, parseDraft, readDraft, saveDraft,
  signDraftObjects, unsignedCopy, type Draft, type DraftObject
} from '../../src/publish/drafts.js'
import type { Op } from '../../src/publish/files.js'
import { Repo, newId } from '../../src/publish/repo.js'
import { sign } from '../../src/publish/sign.js'
import { MemRepo, diskRepo, newKey, type DiskRepo } from './mem-repo.js'

const X = CID.createV1(raw.code, await sha256.digest(new Uint8Array([3])))
const add = (path: string, role = 'targets'): Op => ({ op: 'add', role, path, cid: X, length: 1 })

/** A repository with role `a` (key `a`), and a draft of new targets and `a` signed by targets' key only. */
async function withDraft (): Promise<{ r: MemRepo, draft: Draft }> {
  const r = await MemRepo.create()
  await r.publish([{ op: 'delegate', from: 'targets', name: 'a', keys: r.makeKeys('a'), threshold: 1, terminating: false, paths: ['a/*'] }])
  const p = await r.plan([add('x.txt'), add('a/x.txt', 'a')])
  const s = await sign(p, r.signersOf('targets', 'snapshot', 'timestamp'))
  if (s.kind !== 'draft') throw new Error('expected a draft')
  return { r, draft: { id: newId('draft'), created: '2030-01-01T00:00:00Z', base: r.published.timestamp.cid, objects: s.objects, needs: s.needs, changes: p.changes } }
}

const bytesOf = (m: ReadonlyMap<string, DraftObject>): string[] => [...m].map(([n, e]) => `${n}:${Buffer.from(e.bytes).toString('hex')}`)

describe('draft files', () => {
  it('round-trip: the text parses back to the same draft', async () => {
    const { draft } = await withDraft()
    const back = parseDraft(new TextEncoder().encode(draftText(draft)), 'd.json')
    expect(back.id).toBe(draft.id)
    expect(back.created).toBe(draft.created)
    expect(back.base.equals(draft.base)).toBe(true)
    expect(bytesOf(back.objects)).toEqual(bytesOf(draft.objects))
    expect(back.changes).toEqual(draft.changes)
    const needs = (d: Draft): unknown => [...d.needs].map(([role, rs]) => [role, rs.map((q) => [q.label, q.threshold, [...q.keys.keys()], [...q.keys.values()].map((k) => k.public)])])
    expect(needs(back)).toEqual(needs(draft))
    expect(draftText(back)).toBe(draftText(draft))
  })

  type Json = Record<string, unknown> & { objects: Array<Record<string, unknown>>, needs: Array<Record<string, unknown>> }
  it.each<[string, (j: Json) => unknown]>([
    ['another format', (j) => { j.format = 'dagtuf-draft/2' }],
    ['an unknown field', (j) => { j.extra = 1 }],
    ['a block in non-canonical base64', (j) => { j.objects[0]!.block = `${j.objects[0]!.block as string}\n` }],
    ['a block that is not a targets envelope', (j) => { j.objects[0]!.block = Buffer.from('{"signed":{}}').toString('base64') }],
    ['a role listed twice', (j) => { j.objects.push({ ...j.objects[0]! }) }],
    ['an unsafe role name', (j) => { j.objects[0]!.role = '../x' }],
    ['needs for a role without an object', (j) => { j.needs[0]!.role = 'zzz' }],
    ['a malformed key in needs', (j) => { j.needs[0]!.keys = { nothex: 'x' } }],
    ['a bad created time', (j) => { j.created = 'yesterday' }],
    ['not JSON', () => '{'],
    ['a list, not an object', () => []]
  ])('refuses %s (ERR_DRAFT_FORMAT)', async (_n, edit) => {
    const { draft } = await withDraft()
    const j = JSON.parse(draftText(draft)) as Json
    const replaced = edit(j)
    const text = typeof replaced === 'string' ? replaced : JSON.stringify(replaced ?? j)
    let err: unknown
    try { parseDraft(new TextEncoder().encode(text), 'd.json') } catch (e) { err = e }
    expect(err).toBeInstanceOf(RepoError)
    expect(err).toMatchObject({ code: 'ERR_DRAFT_FORMAT', details: { file: 'd.json' } })
  })
})

describe('collecting signatures', () => {
  it('signDraftObjects: an authorized key signs what it can, once; another key is not authorized and changes nothing', async () => {
    const { r, draft } = await withDraft()
    const needs = draftNeeds(r.published, draft.objects)
    expect(needsReport(draft.objects, needs).filter((n) => n.have < n.threshold).map((n) => n.role)).toEqual(['a'])
    const stranger = await signDraftObjects(draft.objects, needs, newKey().signer)
    expect(stranger).toMatchObject({ authorized: false, signed: [] })
    expect(bytesOf(stranger.objects)).toEqual(bytesOf(draft.objects))
    const a = r.signersOf('a')[0]!
    const once = await signDraftObjects(draft.objects, needs, a)
    expect(once).toMatchObject({ authorized: true, signed: ['a'] })
    expect(complete(once.objects, needs)).toBe(true)
    const twice = await signDraftObjects(once.objects, needs, a)
    expect(twice).toMatchObject({ authorized: true, signed: [] })
    expect(bytesOf(twice.objects)).toEqual(bytesOf(once.objects))
  })

  it('signDraftObjects replaces a signature under the key\'s id that does not verify', async () => {
    const { r, draft } = await withDraft()
    const needs = draftNeeds(r.published, draft.objects)
    const a = r.signersOf('a')[0]!
    const bogus = new Map(draft.objects)
    bogus.set('a', withSignatures<TargetsSigned>(draft.objects.get('a') as Envelope<TargetsSigned>, [{ keyid: a.keyid, sig: toHexSig(new Uint8Array(64).fill(1)) }]) as DraftObject)
    expect(complete(bogus, needs)).toBe(false)
    const fixed = await signDraftObjects(bogus, needs, a)
    expect(fixed.signed).toEqual(['a'])
    expect(fixed.objects.get('a')!.signatures).toHaveLength(1)
    expect(complete(fixed.objects, needs)).toBe(true)
  })

  it('mergeSignatures takes only verifying signatures by listed keys, and refuses other signed bytes (ERR_DRAFT_MISMATCH)', async () => {
    const { r, draft } = await withDraft()
    const needs = draftNeeds(r.published, draft.objects)
    // Elsewhere: a copy without signatures, signed by `a` and by a stranger.
    const copy = unsignedCopy(draft.objects)
    expect([...copy.values()].every((e) => e.signatures.length === 0)).toBe(true)
    const theirs = (await signDraftObjects(copy, needs, r.signersOf('a')[0]!)).objects
    const stranger = newKey().signer
    const strangerSig = toHexSig(await stranger.sign(new Uint8Array(0)))
    theirs.set('a', withSignatures<TargetsSigned>(theirs.get('a') as Envelope<TargetsSigned>, [{ keyid: stranger.keyid, sig: strangerSig }]) as DraftObject)
    const merged = mergeSignatures(draft.objects, theirs, needs)
    expect(merged.added).toEqual([{ role: 'a', keyid: r.signersOf('a')[0]!.keyid }])
    expect(complete(merged.objects, needs)).toBe(true)
    expect(merged.objects.get('a')!.signatures.map((s) => s.keyid)).toEqual([r.signersOf('a')[0]!.keyid])
    // Another object under the same role name.
    const other = await withDraft()
    expect(() => mergeSignatures(draft.objects, other.draft.objects, needs)).toThrow(expect.objectContaining({ code: 'ERR_DRAFT_MISMATCH' }))
  })

  it('requirements come from the repository: an edited `needs` naming another key does not complete the draft', async () => {
    const { r, draft } = await withDraft()
    const stranger = newKey()
    const forged = new Map(draft.needs)
    forged.set('a', [{ label: 'delegation from targets', threshold: 1, keys: new Map([[stranger.pair.keyid, stranger.pair.publicKey]]), keyids: [stranger.pair.keyid] }])
    const signed = await signDraftObjects(draft.objects, forged, stranger.signer)
    expect(signed.signed).toEqual(['a'])
    expect(complete(signed.objects, forged)).toBe(true)
    expect(complete(signed.objects, draftNeeds(r.published, signed.objects))).toBe(false)
  })

  it('checkFresh: a draft whose objects no longer continue the head is stale (ERR_DRAFT_STALE)', async () => {
    const { r, draft } = await withDraft()
    checkFresh(r.published, draft.objects)
    await r.publish([add('other.txt')])
    expect(() => checkFresh(r.published, draft.objects)).toThrow(expect.objectContaining({ code: 'ERR_DRAFT_STALE', details: { role: 'targets' } }))
  })
})

describe('drafts on disk', () => {
  const made: DiskRepo[] = []
  afterEach(async () => { for (const d of made.splice(0)) await d.dispose() })

  /** A repository folder whose head says it was published from `source`. */
  async function repoWithSource (source: string): Promise<Repo> {
    const d = await diskRepo(source)
    made.push(d)
    return d.repo
  }

  it('saves and reads drafts; refuses a malformed id; lists pending drafts oldest first and drops one the head was published from', async () => {
    const { draft } = await withDraft()
    const done = { ...draft, id: newId('draft'), created: '2029-01-01T00:00:00Z' }
    const older = { ...draft, id: newId('draft'), created: '2028-01-01T00:00:00Z' }
    const repo = await repoWithSource(done.id)
    for (const d of [draft, done, older]) await saveDraft(repo, d)
    expect(draftText(await readDraft(repo, draft.id))).toBe(draftText(draft))
    await expect(readDraft(repo, '../head')).rejects.toMatchObject({ code: 'ERR_DRAFT_NOT_FOUND' })
    await expect(readDraft(repo, newId('draft'))).rejects.toMatchObject({ code: 'ERR_DRAFT_NOT_FOUND' })
    expect((await listDrafts(repo)).map((d) => d.id)).toEqual([older.id, draft.id])
    expect((await readdir(repo.draftsDir)).sort()).toEqual([`${draft.id}.json`, `${older.id}.json`].sort())
  })
})
