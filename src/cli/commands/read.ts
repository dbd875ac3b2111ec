/**
 * The commands that only read a repository: status, head, log, drafts,
 * draft show. They start without the publisher's engine, the keys, or the
 * embedded node (Helia and its stores): blocks are read from their files
 * (src/blocks/repo-files.ts), so each starts in about the time of `head`
 * (issue 14 item 7; `npm run bench:startup` measures them, and
 * test/cli/lazy-imports.test.ts keeps the heavy modules out of this one's
 * static imports).
 */
import * as fs from 'node:fs/promises'
import { flag, str } from '../args.js'
import type { Command } from '../command.js'
import { RepoError, UsageError } from '../../model/errors.js'
import { blockAsJson } from '../../model/codec.js'
import { TOP_ROLES } from '../../model/types.js'
import { loadCurrent } from '../../publish/state.js'
import { readRepoIpns } from '../../publish/ipns.js'
import { Repo } from '../../publish/repo.js'
import { checkFresh, draftNeeds, listDrafts, needsReport, parseDraft, readDraft, type Draft } from '../../publish/drafts.js'
import { opJson, parseDuration } from '../../publish/files.js'
import { DEFAULT_EXPIRY_WARNING_SECONDS, horizonOf, type Horizon } from '../../publish/horizon.js'
import { diffDraft, diffLines, objectLines, type DraftDiff } from './draft-diff.js'
import { DIR, dirOf, headJsonOf, needsJson, repoHint, textIo, withReader, type Reader } from './publish-common.js'

export async function readDraftFile (file: string): Promise<Draft> {
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await fs.readFile(file))
  } catch (cause) {
    throw new RepoError('ERR_DRAFT_NOT_FOUND', `cannot read ${file}`, { cause, details: { file } })
  }
  return parseDraft(bytes, file)
}

export async function pickDraft (repo: Repo, id: string | undefined): Promise<Draft> {
  if (id !== undefined) return await readDraft(repo, id)
  const all = await listDrafts(repo)
  if (all.length === 0) throw new RepoError('ERR_DRAFT_NOT_FOUND', 'there is no pending draft')
  if (all.length > 1) throw new RepoError('ERR_DRAFT_AMBIGUOUS', `${all.length} drafts are pending: name one with --draft`, { details: { drafts: all.map((d) => d.id) } })
  return all[0]!
}

async function statusOf (r: Reader, warningSeconds: number, now: Date): Promise<Record<string, unknown>> {
  const current = await loadCurrent(r.repo, r.blocks)
  const p = current.published
  const staged = await r.repo.staged(current.head)
  const drafts = await listDrafts(r.repo)
  const files = await r.repo.keyFiles()
  const roles: Record<string, unknown> = {}
  for (const r of TOP_ROLES) {
    const rk = p.root.signed.roles[r]
    roles[r] = { threshold: rk.threshold, keyids: rk.keyids, available: rk.keyids.filter((id) => files.has(id)).length }
  }
  const expires: Record<string, string> = {
    root: p.root.signed.expires, targets: p.targets.signed.expires, snapshot: p.snapshot.signed.expires, timestamp: p.timestamp.signed.expires
  }
  for (const [n, e] of p.delegated) expires[n] = e.signed.expires
  // Counting reads every shard node of every map: fine for status, which is
  // run by hand; the counts are of the published maps.
  const targets: Record<string, number> = {}
  for (const [n, e] of [['targets', p.targets] as const, ...p.delegated]) {
    let count = 0
    for await (const _ of p.maps.targetEntries(e.signed.targets)) count++
    targets[n] = count
  }
  return {
    dir: r.repo.dir,
    head: headJsonOf(current.head),
    published: current.head.published,
    expires,
    // The same per-role horizon as GET /readyz of dagtuf serve (src/publish/horizon.ts).
    horizon: horizonOf(expires, now, warningSeconds, (await r.repo.config()).expiry),
    targets,
    roles,
    staged: staged.ops.map(opJson),
    drafts: drafts.map((d) => ({ id: d.id, created: d.created, roles: [...d.objects.keys()], needs: needsJson(needsReport(d.objects, draftNeeds(p, d.objects)).filter((n) => n.have < n.threshold)) }))
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'the head, expiry of each role, keys at hand, staged changes and pending drafts',
  usage: 'status [--dir D] [--expiry-warning 7d] [--now ISO] [--json]',
  maxPositionals: 0,
  options: {
    ...DIR,
    'expiry-warning': { type: 'string', help: 'flag each role that expires within this, e.g. 7d, or within a quarter of its expiry period when shorter (default 7d; the horizon of serve --expiry-warning and GET /readyz)' },
    now: { type: 'string', help: 'reference time of the horizon (ISO 8601; default now): what will warn then' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const w = str(args, 'expiry-warning')
    const warning = w === undefined ? DEFAULT_EXPIRY_WARNING_SECONDS : parseDuration(w, (m) => new UsageError('ERR_USAGE', m), '--expiry-warning')
    const nowText = str(args, 'now')
    const now = nowText === undefined ? new Date() : new Date(nowText)
    if (nowText !== undefined && (nowText.length > 64 || Number.isNaN(now.getTime()))) throw new UsageError('ERR_USAGE', '--now: not an ISO 8601 date')
    const result = await withReader(args, async (r) => await statusOf(r, warning, now))
    const head = result.head as Record<string, string>
    io.out(`head ${head.timestamp} (published ${String(result.published)})`)
    const horizon = result.horizon as Horizon
    for (const h of horizon.roles) io.out(`  ${h.role.padEnd(12)} expires ${h.expires}${h.expired ? '  EXPIRED' : h.warn ? `  WARNING: ${h.seconds} s left, inside its horizon of ${h.horizon} s` : ''}`)
    for (const [r, v] of Object.entries(result.roles as Record<string, { threshold: number, keyids: string[], available: number }>)) {
      io.out(`  key ${r.padEnd(10)} ${v.threshold} of ${v.keyids.length}, ${v.available} here`)
    }
    const staged = result.staged as unknown[]
    io.out(staged.length === 0 ? 'nothing staged' : `${staged.length} staged change(s) (publish with: ${repoHint(args, 'publish')})`)
    for (const d of result.drafts as Array<{ id: string, roles: string[] }>) io.out(`draft ${d.id}: ${d.roles.join(', ')} (list with: ${repoHint(args, 'drafts')})`)
    return { result }
  }
}

export const headCommand: Command = {
  name: 'head',
  summary: 'print the current head: the timestamp CID and the CIDs of its DAG, and its IPNS name after publish --ipns',
  usage: 'head [--dir D] [--json]',
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const repo = await Repo.open(dirOf(args))
    try {
      const h = await repo.head()
      const ipns = await readRepoIpns(repo.dir)
      io.out(h.timestamp.toString())
      let ipnsJson: Record<string, unknown> | undefined
      if (ipns !== null) {
        // The record may point to an older head: publish without --ipns leaves it.
        const current = ipns.value === `/ipfs/${h.timestamp.toString()}`
        ipnsJson = { name: ipns.name, value: ipns.value, sequence: ipns.sequence, validity: ipns.validity, current }
        io.out(`ipns ${ipns.name}${current ? '' : ` (still points to ${ipns.value}: move it with: ${repoHint(args, 'publish', '--ipns')})`}`)
      }
      return { result: { ...headJsonOf(h), published: h.published, ...(ipnsJson === undefined ? {} : { ipns: ipnsJson }) } }
    } finally {
      await repo.close()
    }
  }
}

export const logCommand: Command = {
  name: 'log',
  summary: 'every published timestamp, newest first, with what changed',
  usage: 'log [--dir D] [--json]',
  maxPositionals: 0,
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const repo = await Repo.open(dirOf(args))
    try {
      const entries = (await repo.log()).reverse()
      for (const e of entries) {
        io.out(`${e.published} ${e.timestamp.toString()}`)
        for (const c of e.changes) io.out(`    ${c.role}: ${c.kind}${c.count !== undefined ? ` ${c.count}` : ''}`)
      }
      return { result: { entries: entries.map((e) => ({ ...headJsonOf(e), published: e.published, changes: e.changes })) } }
    } finally {
      await repo.close()
    }
  }
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
    return await withReader(args, async (r) => {
      const current = await loadCurrent(r.repo, r.blocks)
      const out = []
      for (const d of await listDrafts(r.repo)) {
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
        io.out('what the new objects say:')
        for (const l of objectLines(d)) io.out(l)
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
    const withRepo = async (d: (r: Reader) => Promise<Draft> | Draft): Promise<{ result: Record<string, unknown> }> =>
      await withReader(args, async (r) => {
        const draft = await d(r)
        const current = await loadCurrent(r.repo, r.blocks)
        return { result: show(draft, await diffDraft(draft, current, r.blocks)) }
      })
    if (file !== undefined) {
      const d = await readDraftFile(file)
      if (str(args, 'dir') === undefined) return { result: show(d, null) }
      return await withRepo(() => d)
    }
    return await withRepo(async (r) => await pickDraft(r.repo, args.positionals[0]))
  }
}
