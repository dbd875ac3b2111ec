/** Shared test helpers for the block layer: blocks, temp dirs, code matchers. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { expect } from 'vitest'
import { CODEC_DAG_JSON, HASH_SHA2_256, sha256 } from '../../src/model/hash.js'

/** A CIDv1 with a sha2-256 multihash for `bytes` under `codec` (raw by default). */
export function cidOf (bytes: Uint8Array, codec: number = raw.code): CID {
  return CID.createV1(codec, createDigest(HASH_SHA2_256, sha256(bytes)))
}

export function rawBlock (text: string): { cid: CID, bytes: Uint8Array } {
  const bytes = new TextEncoder().encode(text)
  return { cid: cidOf(bytes), bytes }
}

export function jsonBlock (value: unknown): { cid: CID, bytes: Uint8Array } {
  const bytes = new TextEncoder().encode(JSON.stringify(value))
  return { cid: cidOf(bytes, CODEC_DAG_JSON), bytes }
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pseudoRandomBytes (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export async function tempDir (prefix = 'dagtuf-blocks-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Assert that `promise` rejects with an error of this name and code. */
export async function rejectsWith (promise: Promise<unknown>, code: string, name = 'BlockError'): Promise<Error & { code: string, details: Record<string, unknown> }> {
  let caught: unknown
  try {
    await promise
  } catch (e) {
    caught = e
  }
  expect(caught, `expected a rejection with ${code}`).toBeInstanceOf(Error)
  expect({ name: (caught as Error).name, code: (caught as { code?: string }).code }).toEqual({ name, code })
  return caught as Error & { code: string, details: Record<string, unknown> }
}

/** Byte equality without vitest's element-by-element deep diff (slow on MiBs). */
export function expectSameBytes (actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength)
  expect(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)).toBe(true)
}
