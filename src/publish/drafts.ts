/**
 * Drafts: new objects waiting for signatures (NOTES section 10).
 *
 * When a publish needs signatures that the keys at hand cannot give (an
 * offline root or targets key, a 2-of-3 root, a delegated role's key held by
 * someone else), the new root/targets/delegated objects are kept in a draft
 * instead: their `signed` bytes are fixed, and signatures are added one at a
 * time, on this machine or on others, until every threshold is met. Then the
 * draft is finalized: a snapshot and a timestamp are made and published.
 *
 * File format (drafts/ID.json, and the exported file; the same thing):
 *
 *   { "format": "dagtuf-draft/1", "id": "draft-HEX", "created": ISO-8601,
 *     "base": CID,                        the head the draft was made from
 *     "objects": [ { "role": NAME, "block": BASE64 } ],   envelopes, dag-json bytes
 *     "needs": [ { "role", "label", "threshold", "keys": { KEYID: PUBLIC } } ],
 *     "changes": [CHANGE] }
 *
 * Guarantees:
 * - A draft holds envelopes (dag-json bytes) and public keys only: never a
 *   private key.
 * - Reading a draft checks every block with the strict decoder
 *   (decodeEnvelope), so a draft cannot smuggle in an object a reader would
 *   refuse; a signature that does not verify is dropped on merge.
 * - `needs` is advisory (it tells an offline signer what to sign and who is
 *   still missing); the repository recomputes the requirements from its own
 *   state before finalizing (`draftNeeds`), so an edited `needs` changes
 *   nothing there.
 * - A draft is finalized only while each of its objects still continues the
 *   published object of its role (`checkFresh`, ERR_DRAFT_STALE).
 */
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { cidOf, decodeEnvelope, encodeEnvelope } from '../model/codec.js'
import { LIMITS } from '../model/config.js'
import { CryptoError, KeyFileError, RepoError, type DagtufError } from '../model/errors.js'
import { isAcceptablePublicKey, isHex128, isHex64, signingMessage, toHexSig, verifySignature, type Signer } from '../model/keys.js'
import { isSafeRoleName, isValidExpires } from '../model/schema.js'
import type { Envelope, KeyId, PublicKey, RootSigned, Signature, TargetsSigned } from '../model/types.js'
import { SOURCE_ID, metaCid, type Change } from './files.js'
import { Fields, entriesOf, parseJson, type ErrorFactory } from '../model/strictjson.js'
import { viewOf } from './plan.js'
import type { Repo } from './repo.js'
import { readCapped, writeAtomic } from './repo-io.js'
import { requirementsFor, tally, type Published, type Requirement } from './state.js'

export type DraftObject = Envelope<RootSigned> | Envelope<TargetsSigned>

export interface Draft {
  readonly id: string
  readonly created: string
  readonly base: CID
  /** By role name ('root', 'targets' or a delegated role), in signing order. */
  readonly objects: ReadonlyMap<string, DraftObject>
  /** Per role: the thresholds it must meet. */
  readonly needs: ReadonlyMap<string, readonly Requirement[]>
  readonly changes: readonly Change[]
}

const MAX_DRAFT_BYTES = 256 * 1024 * 1024

function draftError (where: string): ErrorFactory {
  return (message: string, cause?: unknown): DagtufError => new RepoError('ERR_DRAFT_FORMAT', `${where}: ${message}`, { cause, details: { file: where } })
}

export function draftText (d: Draft): string {
  const objects = [...d.objects].map(([role, env]) => ({ role, block: Buffer.from(env.bytes).toString('base64') }))
  const needs = [...d.needs].flatMap(([role, reqs]) => reqs.map((r) => {
    const keys: Record<string, string> = {}
    for (const [id, k] of r.keys) keys[id] = k.public
    return { role, label: r.label, threshold: r.threshold, keys }
  }))
  return JSON.stringify({
    format: 'dagtuf-draft/1',
    id: d.id,
    created: d.created,
    base: d.base.toString(),
    objects,
    needs,
    changes: d.changes
  }, null, 2) + '\n'
}

function roleOf (v: unknown, path: string, onError: ErrorFactory): string {
  if (typeof v !== 'string' || (v !== 'root' && v !== 'targets' && !isSafeRoleName(v))) throw onError(`${path}: bad role name`)
  return v
}

/**
 * Parse a draft file strictly.
 * @throws {RepoError} ERR_DRAFT_FORMAT
 */
export function parseDraft (bytes: Uint8Array, where: string): Draft {
  const onError = draftError(where)
  const f = Fields.of(parseJson(bytes, { maxBytes: MAX_DRAFT_BYTES, maxDepth: 8, onError }), 'draft', onError)
  f.literal('format', 'dagtuf-draft/1')
  const id = f.str('id', SOURCE_ID)
  if (!id.startsWith('draft-')) throw onError('draft.id: malformed')
  const created = f.str('created', undefined, 32)
  if (!isValidExpires(created)) throw onError('draft.created: expected YYYY-MM-DDTHH:MM:SSZ')
  const base = metaCid(f.req('base'), 'draft.base', onError)
  const objects = new Map<string, DraftObject>()
  f.arr('objects', LIMITS.maxDelegatedRoles + 2).forEach((raw, i) => {
    const o = Fields.of(raw, `draft.objects[${i}]`, onError)
    const role = roleOf(o.req('role'), `draft.objects[${i}].role`, onError)
    const b64 = o.str('block', /^[A-Za-z0-9+/]*={0,2}$/, MAX_DRAFT_BYTES)
    o.done()
    const block = new Uint8Array(Buffer.from(b64, 'base64'))
    if (Buffer.from(block).toString('base64') !== b64) throw onError(`draft.objects[${i}].block: not canonical base64`)
    if (objects.has(role)) throw onError(`draft.objects[${i}]: role listed twice`)
    try {
      objects.set(role, role === 'root' ? decodeEnvelope('root', block, cidOf(block)) : decodeEnvelope('targets', block, cidOf(block)))
    } catch (cause) {
      throw onError(`draft.objects[${i}].block: not a well-formed ${role === 'root' ? 'root' : 'targets'} envelope`, cause)
    }
  })
  const needs = new Map<string, Requirement[]>()
  f.arr('needs', 100_000).forEach((raw, i) => {
    const n = Fields.of(raw, `draft.needs[${i}]`, onError)
    const role = roleOf(n.req('role'), `draft.needs[${i}].role`, onError)
    const label = n.str('label', /^[a-z][a-zA-Z0-9 ._-]{0,300}$/)
    const threshold = n.int('threshold', 1, LIMITS.maxKeyidsPerRole)
    const keys = new Map<KeyId, PublicKey>()
    for (const [id, pub] of entriesOf(n.req('keys'), `draft.needs[${i}].keys`, onError, LIMITS.maxKeyidsPerRole)) {
      if (!isHex64(id) || !isAcceptablePublicKey(pub)) throw onError(`draft.needs[${i}].keys: bad key`)
      keys.set(id, { keytype: 'ed25519', scheme: 'ed25519', public: pub })
    }
    n.done()
    if (!objects.has(role)) throw onError(`draft.needs[${i}]: no object for role ${role}`)
    const list = needs.get(role) ?? []
    list.push({ label, threshold, keys, keyids: [...keys.keys()] })
    needs.set(role, list)
  })
  const changes = f.req('changes')
  // Changes are informational; reuse the head's strict reader via a tiny wrapper.
  const ch = parseChangesList(changes, onError)
  f.done()
  return { id, created, base, objects, needs, changes: ch }
}

function parseChangesList (v: unknown, onError: ErrorFactory): Change[] {
  if (!Array.isArray(v) || v.length > 100_000) throw onError('draft.changes: expected a list')
  return v.map((raw, i) => {
    const f = Fields.of(raw, `draft.changes[${i}]`, onError)
    const role = roleOf(f.req('role'), `draft.changes[${i}].role`, onError)
    const kind = f.str('kind', /^[a-z-]{1,32}$/) as Change['kind']
    const count = f.has('count') ? f.int('count', 0, LIMITS.maxTargets) : undefined
    f.done()
    return count === undefined ? { role, kind } : { role, kind, count }
  })
}

/** Who has signed and who is still missing, per object and requirement. */
export interface NeedReport {
  role: string
  label: string
  threshold: number
  have: number
  signed: KeyId[]
  missing: KeyId[]
}

export function needsReport (objects: ReadonlyMap<string, DraftObject>, needs: ReadonlyMap<string, readonly Requirement[]>): NeedReport[] {
  const out: NeedReport[] = []
  for (const [role, env] of objects) {
    for (const t of tally(env, needs.get(role) ?? [])) {
      out.push({
        role,
        label: t.req.label,
        threshold: t.req.threshold,
        have: t.have,
        signed: t.signed,
        missing: t.req.keyids.filter((id) => !t.signed.includes(id))
      })
    }
  }
  return out
}

/** Every requirement met? */
export function complete (objects: ReadonlyMap<string, DraftObject>, needs: ReadonlyMap<string, readonly Requirement[]>): boolean {
  for (const [role] of objects) if ((needs.get(role) ?? []).length === 0) return false
  return needsReport(objects, needs).every((n) => n.have >= n.threshold)
}

/** A signature offered for one object of a draft (a signing session's POST, or made by a key at hand). */
export interface OfferedSignature {
  readonly role: string
  readonly keyid: KeyId
  /** 128 hex characters: the ed25519 signature of `signingMessage(object.signedBytes)`. */
  readonly sig: string
}

/** The public key of `keyid` if a requirement of `reqs` lists it. */
function listedKey (reqs: readonly Requirement[], keyid: KeyId): PublicKey | undefined {
  for (const r of reqs) { const k = r.keys.get(keyid); if (k !== undefined) return k }
  return undefined
}

/** Whether `env` already carries a signature by `keyid` that verifies. */
function hasValidSig (env: DraftObject, keyid: KeyId, key: PublicKey): boolean {
  return env.signatures.some((s) => s.keyid === keyid && verifySignature(key, env.signedBytes, s.sig))
}

/**
 * The one step that adds signatures to a draft's objects, whoever made them
 * (`dagtuf sign --draft`, `--draft-file`, and the signing sessions of
 * `dagtuf serve`). All or nothing: every offered signature is checked
 * before any is added, and the first that fails is thrown.
 *
 * - SESS-SIG-KEY: the signature's key is listed by a requirement of that
 *   object in `needs` (the repository recomputes them from its own state,
 *   `draftNeeds`, before calling this);
 * - SESS-SIG-BYTES: it verifies over that object's exact signed bytes (with
 *   the signature domain) — a signature over anything else fails here;
 * - SESS-SIG-ONCE: the key has not signed that object already (a signature
 *   under its keyid that does not verify is replaced), nor twice in `offered`.
 *
 * @throws {RepoError} ERR_DRAFT_MISMATCH (no such role in the draft) | ERR_DRAFT_SIGNATURE | ERR_DRAFT_SIGNED
 * @throws {KeyFileError} ERR_KEY_NOT_AUTHORIZED
 * @throws {CryptoError} ERR_SIG_FORMAT (not 128 lowercase hex characters)
 */
export function applySignatures (
  objects: ReadonlyMap<string, DraftObject>,
  needs: ReadonlyMap<string, readonly Requirement[]>,
  offered: readonly OfferedSignature[]
): Map<string, DraftObject> {
  const byRole = new Map<string, Signature[]>()
  for (const o of offered) {
    const env = objects.get(o.role)
    if (env === undefined) throw new RepoError('ERR_DRAFT_MISMATCH', `the draft has no ${JSON.stringify(String(o.role).slice(0, 64))} object to sign`, { details: { role: String(o.role).slice(0, 64) } })
    const key = listedKey(needs.get(o.role) ?? [], o.keyid)
    if (key === undefined) {
      throw new KeyFileError('ERR_KEY_NOT_AUTHORIZED', `key ${String(o.keyid).slice(0, 64)} is not one the draft's ${o.role} object waits for (SESS-SIG-KEY)`, { details: { rule: 'SESS-SIG-KEY', role: o.role, keyid: String(o.keyid).slice(0, 64) } })
    }
    if (!isHex128(o.sig)) throw new CryptoError('ERR_SIG_FORMAT', 'a signature is 128 lowercase hex characters', { details: { role: o.role, keyid: o.keyid } })
    if (!verifySignature(key, env.signedBytes, o.sig)) {
      throw new RepoError('ERR_DRAFT_SIGNATURE', `the signature by ${o.keyid} does not verify over the exact bytes of the draft's ${o.role} object (SESS-SIG-BYTES)`, { details: { rule: 'SESS-SIG-BYTES', role: o.role, keyid: o.keyid } })
    }
    const list = byRole.get(o.role) ?? []
    if (hasValidSig(env, o.keyid, key) || list.some((s) => s.keyid === o.keyid)) {
      throw new RepoError('ERR_DRAFT_SIGNED', `key ${o.keyid} has already signed the draft's ${o.role} object (SESS-SIG-ONCE)`, { details: { rule: 'SESS-SIG-ONCE', role: o.role, keyid: o.keyid } })
    }
    list.push({ keyid: o.keyid, sig: o.sig })
    byRole.set(o.role, list)
  }
  const out = new Map(objects)
  for (const [role, sigs] of byRole) {
    const env = objects.get(role)!
    // A stale signature under one of these keyids (it did not verify) is replaced.
    const kept = env.signatures.filter((s) => !sigs.some((n) => n.keyid === s.keyid))
    out.set(role, encodeWith(env, [...kept, ...sigs]))
  }
  return out
}

/**
 * Sign every object of the draft for which `signer` is one of the keys a
 * requirement lists and has not signed yet, through `applySignatures`.
 * Returns the new objects and the roles signed (empty when the key is
 * authorized but everything it could sign already carries its signature).
 *
 * @throws {CryptoError} ERR_SIGNER when the signer returns a signature that does not verify
 */
export async function signDraftObjects (
  objects: ReadonlyMap<string, DraftObject>,
  needs: ReadonlyMap<string, readonly Requirement[]>,
  signer: Signer
): Promise<{ objects: Map<string, DraftObject>, signed: string[], authorized: boolean }> {
  const offered: OfferedSignature[] = []
  let authorized = false
  for (const [role, env] of objects) {
    const key = listedKey(needs.get(role) ?? [], signer.keyid)
    if (key === undefined) continue
    authorized = true
    if (hasValidSig(env, signer.keyid, key)) continue
    const sig = toHexSig(await signer.sign(signingMessage(env.signedBytes)))
    if (!verifySignature(key, env.signedBytes, sig)) throw new CryptoError('ERR_SIGNER', `signer ${signer.keyid} returned a signature that does not verify`, { details: { keyid: signer.keyid } })
    offered.push({ role, keyid: signer.keyid, sig })
  }
  return { objects: applySignatures(objects, needs, offered), signed: offered.map((o) => o.role), authorized }
}

/**
 * Take from `incoming` the signatures that verify, for objects whose signed
 * bytes are identical to ours, by keys some requirement lists.
 *
 * @throws {RepoError} ERR_DRAFT_MISMATCH when an incoming object's signed bytes differ from ours
 */
export function mergeSignatures (
  ours: ReadonlyMap<string, DraftObject>,
  incoming: ReadonlyMap<string, DraftObject>,
  needs: ReadonlyMap<string, readonly Requirement[]>
): { objects: Map<string, DraftObject>, added: Array<{ role: string, keyid: KeyId }> } {
  const out = new Map(ours)
  const added: Array<{ role: string, keyid: KeyId }> = []
  for (const [role, theirs] of incoming) {
    const mine = ours.get(role)
    if (mine === undefined || Buffer.compare(Buffer.from(mine.signedBytes), Buffer.from(theirs.signedBytes)) !== 0) {
      throw new RepoError('ERR_DRAFT_MISMATCH', `the imported draft's ${role} object is not the one this repository waits for`, { details: { role } })
    }
    const authorized = new Map<KeyId, PublicKey>()
    for (const r of needs.get(role) ?? []) for (const [id, k] of r.keys) authorized.set(id, k)
    const have = new Set(mine.signatures.map((s) => s.keyid))
    const fresh = theirs.signatures.filter((s) => !have.has(s.keyid) && authorized.has(s.keyid) && verifySignature(authorized.get(s.keyid)!, mine.signedBytes, s.sig))
    if (fresh.length === 0) continue
    out.set(role, withSigs(mine, fresh))
    for (const s of fresh) added.push({ role, keyid: s.keyid })
  }
  return { objects: out, added }
}

function withSigs (env: DraftObject, sigs: readonly Signature[]): DraftObject {
  return encodeWith(env, [...env.signatures, ...sigs])
}

/** The envelope of `env.signed` with exactly `sigs` (re-checked by the strict decoder). */
function encodeWith (env: DraftObject, sigs: readonly Signature[]): DraftObject {
  return encodeEnvelope(env.signed, sigs) as DraftObject
}

/** The same objects without any signature (signatures are then merged back only if they verify). */
export function unsignedCopy (objects: ReadonlyMap<string, DraftObject>): Map<string, DraftObject> {
  return new Map([...objects].map(([role, env]) => [role, encodeWith(env, [])]))
}

// ---------------------------------------------------------------------------
// Drafts and the published state.

/**
 * Check that draft objects still continue the current head's chains.
 * @throws {RepoError} ERR_DRAFT_STALE
 */
export function checkFresh (published: Published, objects: ReadonlyMap<string, DraftObject>): void {
  for (const [role, env] of objects) {
    const prev = env.signed.previousVersion
    const expected = role === 'root'
      ? published.root.cid
      : role === 'targets' ? published.targets.cid : published.delegated.get(role)?.cid ?? published.retired.get(role) ?? null
    const ok = prev === null ? expected === null : expected !== null && prev.equals(expected)
    if (!ok) throw new RepoError('ERR_DRAFT_STALE', `the draft's ${role} object no longer continues the published ${role} (the head moved)`, { details: { role } })
  }
}

/** The requirements of each draft object, recomputed from the repository's own state. */
export function draftNeeds (published: Published, objects: ReadonlyMap<string, DraftObject>): Map<string, Requirement[]> {
  const view = viewOf(published, objects)
  const out = new Map<string, Requirement[]>()
  for (const role of objects.keys()) out.set(role, requirementsFor(view, role))
  return out
}

// ---------------------------------------------------------------------------
// Drafts on disk (DIR/drafts/ID.json).

const draftFile = (repo: Repo, id: string): string => join(repo.draftsDir, `${id}.json`)

/** Read drafts/ID.json. @throws {RepoError} ERR_DRAFT_NOT_FOUND | ERR_DRAFT_FORMAT */
export async function readDraft (repo: Repo, id: string): Promise<Draft> {
  if (!/^draft-[0-9a-f]{8,32}$/.test(id)) throw new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${JSON.stringify(id.slice(0, 64))}`, { details: { draft: id.slice(0, 64) } })
  const bytes = await readCapped(draftFile(repo, id), MAX_DRAFT_BYTES)
  if (bytes === undefined) throw new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${id}`, { details: { draft: id } })
  return parseDraft(bytes, `drafts/${id}.json`)
}

/**
 * Every pending draft. A draft the head says it was published from (a crash
 * came between moving the head and deleting the draft) is removed here.
 */
export async function listDrafts (repo: Repo): Promise<Draft[]> {
  let names: string[]
  try { names = await fs.readdir(repo.draftsDir) } catch { return [] }
  const head = await repo.head()
  const out: Draft[] = []
  for (const n of names.sort()) {
    const m = /^(draft-[0-9a-f]{8,32})\.json$/.exec(n)
    if (m === null) continue
    if (m[1] === head.source) { await fs.rm(join(repo.draftsDir, n), { force: true }).catch(() => {}); continue }
    out.push(await readDraft(repo, m[1]!))
  }
  return out.sort((a, b) => a.created < b.created ? -1 : a.created > b.created ? 1 : 0)
}

/** Write drafts/ID.json atomically. */
export async function saveDraft (repo: Repo, draft: Draft): Promise<void> {
  await writeAtomic(draftFile(repo, draft.id), draftText(draft))
}

/** Remove drafts/ID.json (once published). */
export async function removeDraft (repo: Repo, id: string): Promise<void> {
  await fs.rm(draftFile(repo, id), { force: true })
}
