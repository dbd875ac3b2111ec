/**
 * `dagtuf audit verify [--dir D]` and `dagtuf audit show [--dir D]`: the
 * repository's audit log (src/publish/audit.ts, NOTES 10.3). Both only read
 * (no lock, no node).
 *
 * verify: exit 0 when the chain, its pointer and the published heads agree;
 * else exit 1, each problem printed with its rule (AUDIT-CHAIN, AUDIT-ORDER,
 * AUDIT-HEAD, AUDIT-ANCHOR for --anchor, AUDIT-COVERS); with --json `{ ok, entries, head, problems,
 * incomplete, unacknowledged }`. Incomplete publishes (an entry whose head
 * never came) and unacknowledged entries (past the pointer after a crash)
 * are printed, and are not failures.
 */
import { list } from '../args.js'
import type { Command } from '../command.js'
import { UsageError } from '../../model/errors.js'
import { parseCid } from '../../model/hash.js'
import { entryJson, verifyAudit, type StoredEntry } from '../../publish/audit.js'
import { Repo } from '../../publish/repo.js'
import { DIR, dirOf, textIo } from './publish-common.js'

function summary (s: StoredEntry): string {
  const d = Object.entries(s.entry.details).map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`).join(' ')
  return `${String(s.entry.seq).padStart(6)} ${s.entry.time} ${s.entry.action.padEnd(15)} ${d}`
}

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'check the audit log: every link, the order, the head pointer, and that every published head is in it',
  usage: 'audit verify [--dir D] [--anchor CID...] [--json]',
  maxPositionals: 0,
  options: { ...DIR, anchor: { type: 'list', help: 'entry CIDs kept elsewhere (an earlier head of the log, as audit verify printed it): each must still be in the chain' } },
  async run (args, io) {
    io = textIo(io, args)
    const anchors = list(args, 'anchor').map((a) => {
      try { return parseCid(a) } catch { throw new UsageError('ERR_USAGE', `--anchor: ${JSON.stringify(a.slice(0, 80))} is not a CID`) }
    })
    const repo = await Repo.open(dirOf(args))
    try {
      const r = await verifyAudit(repo.dir, { anchors })
      for (const p of r.problems) io.out(`problem ${p.rule}${p.seq !== undefined ? ` at entry ${p.seq}` : ''}: ${p.message}`)
      for (const i of r.incomplete) io.out(`incomplete publish at entry ${i.seq}: ${i.timestamp} (${i.reason})`)
      if (r.unacknowledged > 0) io.out(`${r.unacknowledged} entr${r.unacknowledged === 1 ? 'y' : 'ies'} past the pointer: an append stopped before it finished (taken over by the next one)`)
      io.out(r.ok ? `audit log ok: ${r.entries.length} entries${r.head !== undefined ? `, head ${r.head.cid}` : ''}` : `audit log FAILED: ${r.problems.length} problem(s)`)
      return {
        result: { ok: r.ok, entries: r.entries.length, head: r.head ?? null, problems: r.problems, incomplete: r.incomplete, unacknowledged: r.unacknowledged },
        exitCode: r.ok ? 0 : 1
      }
    } finally {
      await repo.close()
    }
  }
}

export const auditShowCommand: Command = {
  name: 'audit show',
  summary: 'print the audit log, oldest first (with --json: every entry with its CID)',
  usage: 'audit show [--dir D] [--json]',
  maxPositionals: 0,
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const repo = await Repo.open(dirOf(args))
    try {
      const r = await verifyAudit(repo.dir)
      for (const e of r.entries) io.out(summary(e))
      if (!r.ok) io.err(`dagtuf: the audit log does not verify (${r.problems[0]!.rule}): run dagtuf audit verify`)
      return { result: { ok: r.ok, head: r.head ?? null, entries: r.entries.map(entryJson) } }
    } finally {
      await repo.close()
    }
  }
}
