import { NotFoundError } from 'interface-store'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/**
 * The peer source's local store: the most recently fetched blocks, up to a
 * byte budget, evicting the least recently used. Not a trust anchor (get()
 * re-checks what it returns); it exists because a serving bitswap peer does
 * not send the same block to the same peer twice within a few seconds
 * (Helia's doNotResendBlockWindow), so a block fetched again soon (the same
 * leaf linked twice, the same metadata asked for twice) must be found
 * locally. Bounded, so a long-running client does not accumulate every
 * block it ever fetched.
 */
export class LruBlockstore implements Blockstore {
  readonly #max: number
  readonly #blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  #bytes = 0

  constructor (maxBytes: number) {
    this.#max = maxBytes
  }

  #key (cid: CID): string {
    // By multihash, like FsBlockstore: the same bytes under any codec.
    return Buffer.from(cid.multihash.bytes).toString('base64')
  }

  async put (key: CID, val: InputPair['bytes']): Promise<CID> {
    let bytes: Uint8Array
    if (val instanceof Uint8Array) {
      bytes = val
    } else {
      const parts: Uint8Array[] = []
      for await (const part of val) parts.push(part)
      bytes = new Uint8Array(Buffer.concat(parts))
    }
    const k = this.#key(key)
    const old = this.#blocks.get(k)
    if (old !== undefined) {
      this.#blocks.delete(k)
      this.#bytes -= old.bytes.byteLength
    }
    if (bytes.byteLength > this.#max) return key
    this.#blocks.set(k, { cid: key, bytes })
    this.#bytes += bytes.byteLength
    for (const [oldest, entry] of this.#blocks) {
      if (this.#bytes <= this.#max) break
      this.#blocks.delete(oldest)
      this.#bytes -= entry.bytes.byteLength
    }
    return key
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes)
  }

  async * get (key: CID): AsyncGenerator<Uint8Array> {
    const k = this.#key(key)
    const entry = this.#blocks.get(k)
    if (entry === undefined) throw new NotFoundError(`${key} is not cached`)
    // Most recently used goes last.
    this.#blocks.delete(k)
    this.#blocks.set(k, entry)
    yield entry.bytes
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid) }
  }

  async delete (key: CID): Promise<void> {
    const k = this.#key(key)
    const entry = this.#blocks.get(k)
    if (entry === undefined) return
    this.#blocks.delete(k)
    this.#bytes -= entry.bytes.byteLength
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid)
      yield cid
    }
  }

  async has (key: CID): Promise<boolean> {
    return this.#blocks.has(this.#key(key))
  }

  async * getAll (): AsyncGenerator<Pair> {
    for (const { cid } of [...this.#blocks.values()]) yield { cid, bytes: this.get(cid) }
  }
}
