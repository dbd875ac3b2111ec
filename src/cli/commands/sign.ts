/**
 * Collecting signatures on drafts: sign, drafts, draft export/import/show.
 *
 * Two ways to sign a draft:
 * - in the repository: `dagtuf sign --draft ID --key KEYFILE` (one key at a
 *   time, or several --key);
 * - elsewhere: `dagtuf draft export ID --out F`, carry F to the machine with
 *   the key, `dagtuf sign --draft-file F --key KEYFILE [--out F2]` (no
 *   repository needed there), carry F2 back, `dagtuf draft import F2`.
 * Whenever every threshold is met, the draft is finalized and published.
 */
import * as fs from 'node:fs/promises'
import { flag, list, str, type Parsed } from '../args.js'
import type { Io } from '../command.js'
import type { Command } from '../command.js'
import { KeyFileError, RepoError, UsageError } from '../../model/errors.js'
import { blockAsJson } from '../../model/codec.js'
import type { Signer } from '../../model/keys.js'
import { loadCurrent, tryFinalizeDraft, type PublishResult, type Session } from '../../publish/engine.js'
import {
  checkFresh, draftNeeds, draftText, listDrafts, mergeSignatures, needsReport, parseDraft, readDraft, saveDraft, signDraftObjects,
  unsignedCopy, type Draft
} from '../../publish/drafts.js'
import { writeAtomic } from '../../publish/repo-io.js'
import { readKeyFile, signerFromKeyFile } from '../../publish/keyfile.js'
import { diffDraft, diffLines, type DraftDiff } from './draft-diff.js'
import { DIR, PASSPHRASE, PKCS11, pkcs11Of, needsJson, outOf, passphraseOf, publishJson, publishLines, textIo, withSession } from './publish-common.js'

async function readDraftFile (file: string): Promise<Draft> {
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await fs.readFile(file))
  } catch (cause) {
    throw new RepoError('ERR_DRAFT_NOT_FOUND', `cannot read ${file}`, { cause, details: { file } })
  }
  return parseDraft(bytes, file)
}

async function pickDraft (s: Session, id: string | undefined): Promise<Draft> {
  if (id !== undefined) return await readDraft(s.repo, id)
  const all = await listDrafts(s.repo)
  if (all.length === 0) throw new RepoError('ERR_DRAFT_NOT_FOUND', 'there is no pending draft')
  if (all.length > 1) throw new RepoError('ERR_DRAFT_AMBIGUOUS', `${all.length} drafts are pending: name one with --draft`, { details: { drafts: all.map((d) => d.id) } })
  return all[0]!
}

function resultOf (r: PublishResult, signed: Array<{ role: string, keyid: string }>): Record<string, unknown> {
  return { ...publishJson(r), signed, ...(r.kind === 'published' ? { draft: null, finalized: true } : { finalized: false }) }
}

export const signCommand: Command = {
  name: 'sign',
  summary: 'add signatures to a draft; when every threshold is met, publish it',
  usage: 'sign [--dir D] [--draft ID] (--key KEYFILE... | --pkcs11-module M ...)   |   sign --draft-file F --key KEYFILE [-o|--out F2]',
  options: {
    ...DIR,
    ...PASSPHRASE,
    draft: { type: 'string', help: 'the draft id (default: the only pending draft)' },
    'draft-file': { type: 'string', help: 'sign an exported draft file instead (no repository needed)' },
    out: { type: 'string', help: 'with --draft-file: where to write the signed draft (default: in place)' },
    key: { type: 'list', help: 'private key files to sign with' },
    ...PKCS11
  },
  async run (args, io) {
    io = textIo(io, args)
    const keyFiles = list(args, 'key')
    if (keyFiles.length === 0 && str(args, 'pkcs11-module') === undefined) throw new UsageError('ERR_USAGE', 'sign needs --key KEYFILE (or --pkcs11-module)')
    const pass = await passphraseOf(args)
    // Every key is read and decrypted (the token opened) before anything is signed or written.
    const signers: Signer[] = []
    for (const f of keyFiles) signers.push(await signerFromKeyFile(await readKeyFile(f), pass))
    const token = await pkcs11Of(args)
    try {
      signers.push(...token?.signers ?? [])
      return await signWith(args, io, signers)
    } finally {
      token?.close()
    }
  }
}

/** Sign a draft (in the repository, or an exported file) with `signers`, each through the one signing step (drafts.ts applySignatures). */
async function signWith (args: Parsed, io: Io, signers: readonly Signer[]): Promise<{ result: Record<string, unknown> }> {
  const file = str(args, 'draft-file')
  const { out: outArg } = outOf(args)
  if (file !== undefined) {
    let draft = await readDraftFile(file)
    const signed: Array<{ role: string, keyid: string }> = []
    let objects = draft.objects
    for (const sg of signers) {
      const r = await signDraftObjects(objects, draft.needs, sg)
      if (!r.authorized) throw new KeyFileError('ERR_KEY_NOT_AUTHORIZED', `key ${sg.keyid} is not one this draft waits for`, { details: { keyid: sg.keyid } })
      objects = r.objects
      for (const role of r.signed) signed.push({ role, keyid: sg.keyid })
    }
    draft = { ...draft, objects }
    const out = outArg ?? file
    await writeAtomic(out, draftText(draft))
    const needs = needsReport(draft.objects, draft.needs).filter((n) => n.have < n.threshold)
    io.out(`signed ${signed.map((x) => x.role).join(', ') || 'nothing new'}; wrote ${out}`)
    for (const n of needs) io.out(`  still missing: ${n.role} (${n.label}) ${n.have} of ${n.threshold}`)
    return { result: { draft: draft.id, file: out, signed, needs: needsJson(needs) } }
  }
  return await withSession(args, { lock: true }, async (s) => {
    const draft = await pickDraft(s, str(args, 'draft'))
    const current = await loadCurrent(s.repo, s.node)
    checkFresh(current.published, draft.objects)
    const needs = draftNeeds(current.published, draft.objects)
    let objects = draft.objects
    const signed: Array<{ role: string, keyid: string }> = []
    for (const sg of signers) {
      const r = await signDraftObjects(objects, needs, sg)
      if (!r.authorized) throw new KeyFileError('ERR_KEY_NOT_AUTHORIZED', `key ${sg.keyid} is not one draft ${draft.id} waits for`, { details: { keyid: sg.keyid, draft: draft.id } })
      objects = r.objects
      for (const role of r.signed) signed.push({ role, keyid: sg.keyid })
    }
    const next: Draft = { ...draft, objects, needs }
    await saveDraft(s.repo, next)
    const r = await tryFinalizeDraft(s, next)
    for (const x of signed) io.out(`signed ${x.role} with ${x.keyid.slice(0, 16)}`)
    for (const l of publishLines(r, args)) io.out(l)
    return { result: resultOf(r, signed) }
  })
}

/**
 * What a draft means (NOTES PUB-SIGN-PUBLISHED), printed by `dagtuf drafts`:
 * a stale draft is abandoned for good, and one whose thresholds are met is as
 * good as published to whoever holds a copy.
 */
export const DRAFT_HYGIENE = [
  'A draft names the published object of each role it changes; nothing is ever signed on top of a draft.',
  'A STALE draft is abandoned: the head moved past what it continues, so it will never be published.',
  'A draft whose thresholds are met is as good as published to anyone holding a copy: if an abandoned one may',
  'have been shown to clients (with stolen snapshot and timestamp keys), publish each of its roles twice more;',
  'clients then recover past it once those keys are rotated (NOTES CLIENT-FLOOR-OVERTAKE).'
]

export const draftsCommand: Command = {
  name: 'drafts',
  summary: 'list pending drafts, who still has to sign them, and which are abandoned (stale)',
  usage: 'drafts [--dir D] [--json]',
  maxPositionals: 0,
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    return await withSession(args, {}, async (s) => {
      const current = await loadCurrent(s.repo, s.node)
      const out = []
      for (const d of await listDrafts(s.repo)) {
        let stale = false
        let needs
        try {
          needs = needsReport(d.objects, draftNeeds(current.published, d.objects))
        } catch {
          needs = needsReport(d.objects, d.needs)
        }
        try { checkFresh(current.published, d.objects) } catch { stale = true }
        // Signed as the draft itself asked: what a holder of a copy could show a client.
        const complete = needsReport(d.objects, d.needs).every((n) => n.have >= n.threshold)
        const state = stale
          ? `  STALE: abandoned (the head moved; it will never be published)${complete ? '; fully signed, see below' : ''}`
          : ''
        io.out(`${d.id}  created ${d.created}${state}`)
        for (const n of needs) io.out(`  ${n.role} (${n.label}): ${n.have} of ${n.threshold}${n.have < n.threshold ? `; may still sign: ${n.missing.join(', ')}` : ''}`)
        out.push({ id: d.id, created: d.created, base: d.base.toString(), stale, abandoned: stale, complete, roles: [...d.objects.keys()], needs: needsJson(needs), changes: d.changes })
      }
      if (out.length === 0) io.out('no pending drafts')
      else for (const l of DRAFT_HYGIENE) io.out(l)
      return { result: { drafts: out } }
    })
  }
}

export const draftExportCommand: Command = {
  name: 'draft export',
  summary: 'write a draft to a file, to be signed on another machine (dagtuf sign --draft-file)',
  usage: 'draft export [--dir D] [ID] (-o|--out) FILE',
  options: { ...DIR, out: { type: 'string', help: 'the file to write' } },
  async run (args, io) {
    io = textIo(io, args)
    const { out, rest } = outOf(args, 1)
    if (out === undefined) throw new UsageError('ERR_USAGE', 'draft export needs --out FILE (or -o FILE)')
    return await withSession(args, {}, async (s) => {
      const d = await pickDraft(s, rest[0])
      const current = await loadCurrent(s.repo, s.node)
      await writeAtomic(out, draftText({ ...d, needs: draftNeeds(current.published, d.objects) }))
      io.out(`wrote ${d.id} to ${out}`)
      return { result: { draft: d.id, file: out } }
    })
  }
}

export const draftImportCommand: Command = {
  name: 'draft import',
  summary: 'take the signatures of a signed draft file; publish when every threshold is met',
  usage: 'draft import [--dir D] FILE',
  options: { ...DIR, ...PASSPHRASE },
  async run (args, io) {
    io = textIo(io, args)
    const file = args.positionals[0]
    if (file === undefined || args.positionals.length > 1) throw new UsageError('ERR_USAGE', 'draft import takes one FILE')
    const incoming = await readDraftFile(file)
    return await withSession(args, { lock: true }, async (s) => {
      const current = await loadCurrent(s.repo, s.node)
      let ours: Draft
      try {
        ours = await readDraft(s.repo, incoming.id)
      } catch (e) {
        // A draft made elsewhere is adopted: its objects are re-checked
        // (strict decode, freshness, requirements, VALID) before publishing.
        if (!(e instanceof RepoError) || e.code !== 'ERR_DRAFT_NOT_FOUND') throw e
        ours = { ...incoming, objects: unsignedCopy(incoming.objects) }
      }
      checkFresh(current.published, ours.objects)
      const needs = draftNeeds(current.published, ours.objects)
      const { objects, added } = mergeSignatures(ours.objects, incoming.objects, needs)
      const next: Draft = { ...ours, objects, needs }
      await saveDraft(s.repo, next)
      const r = await tryFinalizeDraft(s, next)
      io.out(`imported ${added.length} signature(s)`)
      for (const l of publishLines(r, args)) io.out(l)
      return { result: { ...resultOf(r, added), imported: added.length } }
    })
  }
}

export const draftShowCommand: Command = {
  name: 'draft show',
  summary: 'what a draft changes against the head (keys, thresholds, delegations, targets), and who must sign; to review before signing',
  usage: 'draft show [--dir D] [ID] [--objects]   |   draft show --draft-file F [--dir D] [--objects]',
  maxPositionals: 1,
  options: {
    ...DIR,
    'draft-file': { type: 'string', help: 'an exported draft file (compared with the head of --dir when given)' },
    objects: { type: 'boolean', help: 'also print each object as JSON, exactly as it is signed (--json always has them)' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const file = str(args, 'draft-file')
    const show = (d: Draft, diff: DraftDiff | null): Record<string, unknown> => {
      const objects: Record<string, unknown> = {}
      for (const [role, env] of d.objects) objects[role] = blockAsJson(env.bytes)
      const needs = needsReport(d.objects, d.needs)
      io.out(`draft ${d.id}, created ${d.created} from the head ${d.base.toString()}`)
      if (diff !== null) {
        for (const l of diffLines(diff)) io.out(l)
      } else {
        io.out('no repository (--dir) to compare with: what the publisher recorded (give --dir to see the changes against its head)')
        for (const c of d.changes) io.out(`  ${c.role}: ${c.kind}${c.count !== undefined ? ` ${c.count}` : ''}`)
      }
      for (const n of needs) io.out(`needs ${n.role} (${n.label}): ${n.have} of ${n.threshold}${n.missing.length > 0 ? `; may sign: ${n.missing.map((k) => k.slice(0, 16)).join(', ')}` : ''}`)
      if (flag(args, 'objects')) {
        for (const [role, json] of Object.entries(objects)) {
          io.out(`--- ${role}`)
          io.out(JSON.stringify(json, null, 2))
        }
      }
      return { draft: d.id, created: d.created, base: d.base.toString(), diff, changes: d.changes, objects, needs: needsJson(needs) }
    }
    const withRepo = async (d: (s: Session) => Promise<Draft> | Draft): Promise<{ result: Record<string, unknown> }> =>
      await withSession(args, {}, async (s) => {
        const draft = await d(s)
        const current = await loadCurrent(s.repo, s.node)
        return { result: show(draft, await diffDraft(draft, current, s.node)) }
      })
    if (file !== undefined) {
      const d = await readDraftFile(file)
      if (str(args, 'dir') === undefined) return { result: show(d, null) }
      return await withRepo(() => d)
    }
    return await withRepo(async (s) => await pickDraft(s, args.positionals[0]))
  }
}
