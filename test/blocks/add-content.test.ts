/**
 * addContent's shortcut for one-chunk content must give exactly the CID the
 * UnixFS importer gives (unixfs-v1-2025 profile), so a target added either way
 * has one address.
 */
import { importBytes } from 'ipfs-unixfs-importer'
import { describe, expect, it } from 'vitest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { SINGLE_LEAF_MAX, addContent, readContentBytes } from '../../src/blocks/unixfs.js'

function bytesOf (n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff
  return b
}

describe('addContent', () => {
  it.each([0, 1, 1000, SINGLE_LEAF_MAX - 1, SINGLE_LEAF_MAX, SINGLE_LEAF_MAX + 1, 3 * SINGLE_LEAF_MAX + 5])('gives the importer\'s CID for %i bytes, and the content reads back', async (n) => {
    const content = bytesOf(n)
    const store = new MemoryBlockStore()
    const ours = await addContent(store, content)
    const theirs = await importBytes(content, { put: async (cid) => cid }, { profile: 'unixfs-v1-2025' })
    expect(ours.cid.toString()).toBe(theirs.cid.toString())
    expect(ours.length).toBe(n)
    expect(Buffer.compare(await readContentBytes(store, ours.cid, n), content)).toBe(0)
    // Streamed, the same content gets the same CID.
    const streamed = await addContent(new MemoryBlockStore(), [content.subarray(0, Math.floor(n / 2)), content.subarray(Math.floor(n / 2))])
    expect(streamed.cid.toString()).toBe(ours.cid.toString())
  })
})
