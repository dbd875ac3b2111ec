/**
 * Collecting signatures on drafts: sign, draft export/import (drafts and
 * draft show, which only read, are in read.ts).
 *
 * Two ways to sign a draft:
 * - in the repository: `dagtuf sign --draft ID --key KEYFILE` (one key at a
 *   time, or several --key);
 * - elsewhere: `dagtuf draft export ID --out F`, carry F to the machine with
 *   the key, `dagtuf sign --draft-file F --key KEYFILE [--out F2]` (no
 *   repository needed there), carry F2 back, `dagtuf draft import F2`.
 * Whenever every threshold is met, the draft is finalized and published.
 */
import { list, str, type Parsed } from '../args.js'
import type { Io } from '../command.js'
import type { Command } from '../command.js'
import { KeyFileError, RepoError, UsageError } from '../../model/errors.js'
import type { Signer } from '../../model/keys.js'
import { loadCurrent, tryFinalizeDraft, type PublishResult } from '../../publish/engine.js'
import {
  checkFresh, draftNeeds, draftText, mergeSignatures, needsReport, readDraft, saveDraft, signDraftObjects,
  unsignedCopy, type Draft
} from '../../publish/drafts.js'
import { writeAtomic } from '../../publish/repo-io.js'
import { appendAudit, draftEvent } from '../../publish/audit.js'
import { pickDraft, readDraftFile } from './read.js'
import { DIR, PASSPHRASE, PKCS11, withSigners, needsJson, outOf, publishJson, publishLines, textIo, withReader, withSession } from './publish-common.js'

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
    // Every key is read and decrypted (the token opened) before anything is signed or written.
    return await withSigners(args, 'sign', async (signers) => await signWith(args, io, signers))
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
    const draft = await pickDraft(s.repo, str(args, 'draft'))
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
    // AUDIT-WRITE-AHEAD: the signatures' entry before the draft file.
    await appendAudit(s.repo.dir, [draftEvent('draft-signed', draft.id, { roles: [...new Set(signed.map((x) => x.role))], keyids: signed.map((x) => x.keyid) })], { now: s.now })
    await saveDraft(s.repo, next)
    const r = await tryFinalizeDraft(s, next)
    for (const x of signed) io.out(`signed ${x.role} with ${x.keyid.slice(0, 16)}`)
    for (const l of publishLines(r, args)) io.out(l)
    return { result: resultOf(r, signed) }
  })
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
    return await withReader(args, async (r) => {
      const d = await pickDraft(r.repo, rest[0])
      const current = await loadCurrent(r.repo, r.blocks)
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
      let adopted = false
      try {
        ours = await readDraft(s.repo, incoming.id)
      } catch (e) {
        // A draft made elsewhere is adopted: its objects are re-checked
        // (strict decode, freshness, requirements, VALID) before publishing.
        if (!(e instanceof RepoError) || e.code !== 'ERR_DRAFT_NOT_FOUND') throw e
        ours = { ...incoming, objects: unsignedCopy(incoming.objects) }
        adopted = true
      }
      checkFresh(current.published, ours.objects)
      const needs = draftNeeds(current.published, ours.objects)
      const { objects, added } = mergeSignatures(ours.objects, incoming.objects, needs)
      const next: Draft = { ...ours, objects, needs }
      // AUDIT-WRITE-AHEAD: a draft adopted from a file, and the signatures taken, before the draft file.
      const events = [
        ...(adopted ? [draftEvent('draft-created', next.id, { base: next.base.toString(), roles: [...next.objects.keys()] })] : []),
        ...(added.length > 0 ? [draftEvent('draft-signed', next.id, { roles: [...new Set(added.map((a) => a.role))], keyids: added.map((a) => a.keyid) })] : [])
      ]
      await appendAudit(s.repo.dir, events, { now: s.now })
      await saveDraft(s.repo, next)
      const r = await tryFinalizeDraft(s, next)
      io.out(`imported ${added.length} signature(s)`)
      for (const l of publishLines(r, args)) io.out(l)
      return { result: { ...resultOf(r, added), imported: added.length } }
    })
  }
}
