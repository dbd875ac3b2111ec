/**
 * sign (src/publish/sign.ts): a plan and plain in-memory `Signer`s give the
 * complete signed DAG when every threshold is met, a draft naming who is
 * still missing otherwise, and never write anything.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { CryptoError, KeyFileError } from '../../src/model/errors.js'
import type { Signer } from '../../src/model/keys.js'
import { checkFresh, complete, draftNeeds, signDraftObjects } from '../../src/publish/drafts.js'
import type { Op } from '../../src/publish/files.js'
import { sign, signTop, signerSource } from '../../src/publish/sign.js'
import { meets } from '../../src/publish/state.js'
import { EXPIRY, MemRepo, newKey } from './mem-repo.js'

const X = CID.createV1(raw.code, await sha256.digest(new Uint8Array([7])))
const add = (path: string, role = 'targets'): Op => ({ op: 'add', role, path, cid: X, length: 1 })

/** A signer that counts its signatures. */
function counting (s: Signer): Signer & { calls: number } {
  const out = { publicKey: s.publicKey, keyid: s.keyid, calls: 0, async sign (m: Uint8Array) { out.calls++; return await s.sign(m) } }
  return out
}

describe('sign', () => {
  it('threshold met: the complete signed DAG, each object meeting its thresholds, nothing written', async () => {
    const r = await MemRepo.create()
    const p = await r.plan([add('x.txt')])
    const size = r.store.size
    const s = await sign(p, r.signersOf('targets', 'snapshot', 'timestamp'))
    expect(s.kind).toBe('signed')
    if (s.kind !== 'signed') return
    const { dag } = s
    expect([...dag.objects.keys()]).toEqual(['targets'])
    expect(meets(dag.objects.get('targets')!, p.needs.get('targets')!)).toBe(true)
    expect(dag.timestamp.signed.snapshot.equals(dag.snapshot.cid)).toBe(true)
    expect(dag.snapshot.signed.meta.targets.equals(dag.objects.get('targets')!.cid)).toBe(true)
    expect(dag.snapshot.signed.meta.root.equals(r.published.root.cid)).toBe(true)
    // Blocks: the plan's shard nodes first, the timestamp last.
    expect(dag.blocks.slice(0, p.shardBlocks.length).map((b) => b.cid.toString())).toEqual(p.shardBlocks.map((b) => b.cid.toString()))
    expect(dag.blocks[dag.blocks.length - 1]!.cid.equals(dag.timestamp.cid)).toBe(true)
    expect(r.store.size).toBe(size)
    // What sign returned is a publishable DAG (VALID, <-*).
    await r.take(dag, r.published.timestamp.cid)
  })

  it('threshold not met: a draft with the right missing signers, no snapshot or timestamp signed', async () => {
    const r = await MemRepo.create()
    await r.publish([{ op: 'delegate', from: 'targets', name: 'a', keys: r.makeKeys('a'), threshold: 1, terminating: false, paths: ['a/*'] }])
    const p = await r.plan([add('x.txt'), add('a/x.txt', 'a')])
    const online = r.signersOf('snapshot', 'timestamp').map(counting)
    const s = await sign(p, [...r.signersOf('targets'), ...online])
    expect(s.kind).toBe('draft')
    if (s.kind !== 'draft') return
    expect(online.map((o) => o.calls)).toEqual([0, 0])
    const aKey = r.keys.get('a')![0]!.pair.keyid
    expect(s.missing.map((m) => [m.role, m.label, m.have, m.threshold, m.missing])).toEqual([['a', 'delegation from targets', 0, 1, [aKey]]])
    expect(meets(s.objects.get('targets')!, p.needs.get('targets')!)).toBe(true)
    expect(s.objects.get('a')!.signatures).toEqual([])

    // The missing key signs the draft elsewhere; then the top is signed and the DAG commits.
    checkFresh(r.published, s.objects)
    const signed = await signDraftObjects(s.objects, draftNeeds(r.published, s.objects), r.signersOf('a')[0]!)
    expect(signed.signed).toEqual(['a'])
    expect(complete(signed.objects, draftNeeds(r.published, signed.objects))).toBe(true)
    const dag = await signTop(r.published, signed.objects, r.signersOf('snapshot', 'timestamp'), p.now, EXPIRY, p.shardBlocks)
    await r.take(dag, r.published.timestamp.cid)
    expect(r.published.delegated.get('a')!.cid.equals(signed.objects.get('a')!.cid)).toBe(true)
  })

  it('a 2-of-3 root re-signed with one root key: a draft missing both root thresholds, with who may sign', async () => {
    const r = await MemRepo.create({ rootKeys: 3, rootThreshold: 2 })
    const p = await r.plan([{ op: 'refresh', role: 'root' }])
    const [k1, k2, k3] = r.keys.get('root')!.map((k) => k.pair.keyid)
    const s = await sign(p, [...r.signersOf('snapshot', 'timestamp'), r.keys.get('root')![0]!.signer])
    expect(s.kind).toBe('draft')
    if (s.kind !== 'draft') return
    expect(s.missing.map((m) => [m.role, m.label, m.have, m.threshold, m.signed, [...m.missing].sort()])).toEqual([
      ['root', 'root', 1, 2, [k1], [k2, k3].sort()],
      ['root', 'previous root', 1, 2, [k1], [k2, k3].sort()]
    ])
    // Two of three: published.
    const two = await sign(p, [...r.signersOf('snapshot', 'timestamp'), ...r.keys.get('root')!.slice(0, 2).map((k) => k.signer)])
    expect(two.kind).toBe('signed')
  })

  it('refuses a named Signer no role of the new DAG authorizes (ERR_KEY_NOT_AUTHORIZED), before signing anything', async () => {
    const r = await MemRepo.create()
    const p = await r.plan([add('x.txt')])
    const mine = r.signersOf('targets', 'snapshot', 'timestamp').map(counting)
    const stranger = counting(newKey().signer)
    const e = await sign(p, [...mine, stranger]).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(KeyFileError)
    expect(e).toMatchObject({ code: 'ERR_KEY_NOT_AUTHORIZED', details: { keyid: stranger.keyid } })
    expect([...mine, stranger].map((s) => s.calls)).toEqual([0, 0, 0, 0])
  })

  it('a key rotated out is refused when named, and ignored in a pool', async () => {
    const r = await MemRepo.create()
    const old = r.keys.get('targets')![0]!.signer
    const p = await r.plan([{ op: 'rotate', role: 'targets', keys: r.makeKeys('targets'), threshold: 1 }])
    await expect(sign(p, [old, ...r.signersOf('root', 'targets', 'snapshot', 'timestamp')])).rejects.toMatchObject({ code: 'ERR_KEY_NOT_AUTHORIZED' })
    const s = await sign(p, signerSource([old, ...r.signersOf('root', 'targets', 'snapshot', 'timestamp')], { named: false }))
    expect(s.kind).toBe('signed')
    if (s.kind !== 'signed') return
    expect(s.dag.objects.get('targets')!.signatures.map((g) => g.keyid)).toEqual([r.keys.get('targets')![0]!.pair.keyid])
  })

  it('a missing snapshot key is ERR_KEY_MISSING (role snapshot) once the new objects are complete', async () => {
    const r = await MemRepo.create()
    const p = await r.plan([add('x.txt')])
    await expect(sign(p, r.signersOf('targets', 'timestamp'))).rejects.toMatchObject({ name: 'KeyFileError', code: 'ERR_KEY_MISSING', details: { role: 'snapshot' } })
    await expect(sign(p, r.signersOf('targets', 'snapshot'))).rejects.toMatchObject({ code: 'ERR_KEY_MISSING', details: { role: 'timestamp' } })
  })

  it('a signer that is not the key it claims, or whose signature does not verify, is ERR_SIGNER', async () => {
    const r = await MemRepo.create()
    const p = await r.plan([add('x.txt')])
    const t = r.signersOf('targets')[0]!
    const other = newKey().signer
    const impostor: Signer = { keyid: t.keyid, publicKey: other.publicKey, sign: async (m) => await other.sign(m) }
    const garbage: Signer = { keyid: t.keyid, publicKey: t.publicKey, sign: async () => new Uint8Array(64) }
    for (const bad of [impostor, garbage]) {
      const e = await sign(p, [bad, ...r.signersOf('snapshot', 'timestamp')]).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(CryptoError)
      expect(e).toMatchObject({ code: 'ERR_SIGNER' })
    }
  })

  it('with nothing to re-sign, only the snapshot and timestamp keys are asked', async () => {
    const r = await MemRepo.create()
    const p = await r.plan([])
    const all = r.allSigners().map(counting)
    const s = await sign(p, signerSource(all, { named: false }))
    expect(s.kind).toBe('signed')
    const byId = new Map(all.map((c) => [c.keyid, c.calls]))
    expect(byId.get(r.keys.get('snapshot')![0]!.pair.keyid)).toBe(1)
    expect(byId.get(r.keys.get('timestamp')![0]!.pair.keyid)).toBe(1)
    expect(byId.get(r.keys.get('root')![0]!.pair.keyid)).toBe(0)
    expect(byId.get(r.keys.get('targets')![0]!.pair.keyid)).toBe(0)
  })
})
