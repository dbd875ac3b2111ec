/**
 * indexCar: a CAR file checked block by block into an index, read from disk
 * on demand (bounded memory for `dagtuf verify`), and checked again when read.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCar, indexCar } from '../../src/blocks/car.js'
import { BlockError } from '../../src/model/errors.js'
import { CODEC_RAW, sha256 } from '../../src/model/hash.js'

let work: string
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'dagtuf-icar-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

const block = (s: string): { cid: CID, bytes: Uint8Array } => {
  const bytes = new TextEncoder().encode(s)
  return { cid: CID.createV1(CODEC_RAW, Digest.create(0x12, sha256(bytes))), bytes }
}

describe('indexCar', () => {
  it('serves every block of the file by CID, checked, and refuses what it does not hold', async () => {
    const blocks = Array.from({ length: 300 }, (_, i) => block(`block number ${i} `.repeat(i % 7 + 1)))
    const file = join(work, 'a.car')
    const car = await encodeCar([blocks[0]!.cid], blocks)
    await writeFile(file, car)
    const src = await indexCar(file)
    try {
      expect(src.size).toBe(300)
      expect(src.roots.map(String)).toEqual([blocks[0]!.cid.toString()])
      for (const b of [blocks[0]!, blocks[150]!, blocks[299]!]) expect(Buffer.compare(await src.get(b.cid), b.bytes)).toBe(0)
      await expect(src.get(block('absent').cid)).rejects.toMatchObject({ code: 'ERR_BLOCK_NOT_FOUND' })
      await expect(src.get(blocks[5]!.cid, { maxBytes: 3 })).rejects.toMatchObject({ code: 'ERR_BLOCK_TOO_LARGE' })
      // The file changes under the index: the bytes read no longer match.
      const tampered = car.slice()
      const at = Buffer.from(tampered).indexOf(Buffer.from(blocks[42]!.bytes))
      tampered[at] = tampered[at]! ^ 1
      await writeFile(file, tampered)
      const e = await src.get(blocks[42]!.cid).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(BlockError)
      expect((e as BlockError).code).toBe('ERR_HASH_MISMATCH')
    } finally {
      await src.close()
    }
    // Indexing a file with a block that does not match its CID fails.
    await expect(indexCar(file)).rejects.toMatchObject({ code: 'ERR_CAR_BLOCK' })
  })
})
