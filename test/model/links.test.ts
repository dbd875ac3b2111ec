/**
 * Review: ENC-CID says every metadata link is sha2-256 with a 32-byte
 * digest, and a target's cid is sha2-256 too. A multihash can declare any
 * digest length, so a link tagged sha2-256 with a short digest must be
 * refused when the block is decoded, not only when (if ever) it is loaded:
 * tombstones in `retired` and `previous-version` links are never loaded, so
 * otherwise such a block would pass VALID here and fail in an
 * implementation that checks the digest length, a parser differential.
 */
import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { expiresIn, makeSnapshot, makeTargets } from '../../src/model/build.js'
import { CODEC_DAG_JSON, CODEC_RAW, HASH_SHA2_256 } from '../../src/model/hash.js'
import { seedSigner } from '../../src/model/keys.js'
import { signEnvelope } from '../../src/model/sign.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { CODEC_DAG_CBOR } from '../../src/model/hash.js'
import { buildRolesMap, buildTargetsMap, emptyMap } from '../../src/shard/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { NOW, caught, fourObjects } from '../helpers/model.js'

const short = (codec: number, n: number): CID => CID.createV1(codec, Digest.create(HASH_SHA2_256, new Uint8Array(n).fill(1)))

describe('review: ENC-CID digest length', () => {
  it('a tombstone (a role-map value) that is a sha2-256 link with a 20-byte digest is refused', async () => {
    const e = await caught(() => buildRolesMap([['gone', short(CODEC_DAG_JSON, 20)]], () => {}))
    expect(e.name).toBe('DecodeError')
    expect(e.code).toBe('ERR_SCHEMA')
  })

  it('a snapshot whose role map link is a sha2-256 link with a 20-byte digest is refused', async () => {
    const o = await fourObjects()
    const e = await caught(async () => await signEnvelope(makeSnapshot({
      expires: expiresIn(NOW, 86400), root: o.root.cid, targets: o.targets.cid, delegatedTargets: emptyMap().cid, retired: short(CODEC_DAG_CBOR, 20)
    }), [seedSigner(o.keys.snapshot.seed)]))
    expect(e.name).toBe('DecodeError')
    expect(e.code).toBe('ERR_SCHEMA')
  })

  it('a previous-version link with a 33-byte sha2-256 digest is refused', async () => {
    const o = await fourObjects()
    const e = await caught(async () => await signEnvelope(makeTargets({
      expires: expiresIn(NOW, 86400), previousVersion: short(CODEC_DAG_JSON, 33), targets: emptyMap().cid
    }), [seedSigner(o.keys.targets.seed)]))
    expect(e.code).toBe('ERR_SCHEMA')
  })

  it('a target cid with a truncated sha2-256 digest is refused', async () => {
    const e = await caught(() => buildTargetsMap([['a.txt', { length: 1, cid: short(CODEC_RAW, 0) }]], () => {}))
    expect(e.code).toBe('ERR_SCHEMA')
  })

  it('32-byte digests are still accepted', async () => {
    const o = await fourObjects()
    const mem = new MemoryBlockStore()
    const retired = buildRolesMap([['gone', short(CODEC_DAG_JSON, 32)]], (b) => { mem.unsafePut(b.cid, b.bytes) }).root
    const env = await signEnvelope(makeSnapshot({
      expires: expiresIn(NOW, 86400), root: o.root.cid, targets: o.targets.cid, delegatedTargets: emptyMap().cid, retired
    }), [seedSigner(o.keys.snapshot.seed)])
    expect((await sourceLoader(mem).roleMap(env.signed.meta.retired)).size).toBe(1)
  })
})
