/**
 * Helpers for client tests over the repository simulator (history.ts): a
 * temporary trusted-state folder, an initialised Updater, forged roots, and
 * assertions that a refusal carries a rule ID and left the state untouched.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { BlockSource } from '../../src/blocks/types.js'
import { Updater, type UpdaterOptions } from '../../src/client/updater.js'
import { makeRoot, expiresIn } from '../../src/model/build.js'
import { seedSigner, type Signer } from '../../src/model/keys.js'
import type { RootEnvelope, RootSigned } from '../../src/model/types.js'
import type { CID } from 'multiformats/cid'
import type { RepoSim } from './history.js'

export interface TempDir { path: string, remove: () => Promise<void> }

export async function tempDir (prefix = 'dagtuf-client-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** An Updater over `sim`'s store with the sim's clock, initialised with its first root. */
export async function updaterFor (sim: RepoSim, dir: string, opts: Partial<UpdaterOptions> = {}): Promise<Updater> {
  const up = await Updater.create({ dir, source: sim.store as BlockSource, unsafeReferenceTime: sim.now, ...opts })
  const state = await up.state().catch(() => null)
  if (state === null) await up.init(sim.versions[0]!.root.cid)
  return up
}

/** Refresh a client of `sim` in `dir` (at the sim's clock) to `ts`. */
export async function refreshTo (sim: RepoSim, dir: string, ts: CID) {
  return await (await updaterFor(sim, dir)).refresh(ts)
}

/** A refresh of a client of `sim` in `dir` to `ts`, refused with `code`, state.json byte for byte unchanged. */
export async function refusedTo (sim: RepoSim, dir: string, ts: CID, code: string): Promise<Error & { code: string, details: Record<string, unknown> }> {
  const up = await updaterFor(sim, dir)
  return await refusedUnchanged(dir, async () => await up.refresh(ts), code)
}

/** The bytes of state.json, or null. */
export async function stateBytes (dir: string): Promise<string | null> {
  return await readFile(join(dir, 'state.json'), 'utf8').catch(() => null)
}

/** Assert `p` rejects with a dagtuf error of `code` (and `name` when given); returns it. */
export async function rejects (p: Promise<unknown>, code: string, name?: string): Promise<Error & { code: string, details: Record<string, unknown> }> {
  let caught: unknown
  try {
    await p
  } catch (e) {
    caught = e
  }
  expect(caught, `expected a rejection with ${code}`).toBeInstanceOf(Error)
  const e = caught as Error & { code: string, details: Record<string, unknown> }
  expect({ code: e.code, message: e.message }).toMatchObject({ code })
  if (name !== undefined) expect(e.name).toBe(name)
  return e
}

/** Assert that `run` is refused with `code` and that state.json did not change. */
export async function refusedUnchanged (dir: string, run: () => Promise<unknown>, code: string): Promise<Error & { code: string, details: Record<string, unknown> }> {
  const before = await stateBytes(dir)
  const e = await rejects(run(), code)
  expect(await stateBytes(dir)).toBe(before)
  return e
}

/** The rules of a relation-based refusal's violations. */
export function violationRules (e: { details: Record<string, unknown> }): string[] {
  const vs = e.details.violations as Array<{ rule: string }> | undefined
  return (vs ?? []).map((v) => v.rule)
}

/**
 * A root derived from the sim's head root by `change`, with previous-version
 * the head root, signed by `signers` (default: every current root key).
 */
export async function forgeRoot (sim: RepoSim, change: (r: RootSigned) => RootSigned = (r) => r, signers?: readonly Signer[]): Promise<RootEnvelope> {
  const head = sim.head.root
  const base: RootSigned = { ...head.signed, expires: expiresIn(sim.now, 365 * 86400), previousVersion: head.cid }
  return await sim.sign(change(base), signers ?? sim.allSignersOf('root'))
}

/** A root with fresh contents built from scratch (for roots on another branch). */
export { makeRoot, seedSigner }

/** `sim.now` plus some seconds. */
export function later (sim: RepoSim, seconds: number): Date {
  return new Date(sim.now.getTime() + seconds * 1000)
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
