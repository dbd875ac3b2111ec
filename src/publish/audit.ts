/**
 * The audit log of a repository (NOTES 10.3): every security-relevant action
 * of the publisher and the service, as a chain of dag-json blocks, each
 * linking the one before it by CID.
 *
 *   DIR/audit/chain.jsonl  one dag-json block per line, oldest first; a
 *                          block's CID is the sha2-256 of its line's bytes
 *                          (CIDv1 dag-json, the same as every TUF block)
 *   DIR/audit/pointer.json { "format": "dagtuf-audit-head/1", "cid", "seq",
 *                          "time", "bytes" }: the last entry, replaced
 *                          atomically after each append
 *   DIR/audit/lock         held while appending (between processes)
 *
 * An entry: { v: 1, seq, time, prev: CID link | null, action, details }.
 * `details` holds CIDs (as text), draft ids, keyids, role names, rule IDs,
 * codes and counts: never key material or passphrases (AUDIT-NO-SECRETS).
 *
 * Guarantees:
 * - AUDIT-WRITE-AHEAD: `appendAudit` returns only once the new entries are on
 *   disk (line appended and fsynced, then the head pointer replaced
 *   atomically). Each caller appends after its checks passed and before it
 *   does (and acknowledges) the action; a failed append (a full disk: a
 *   DiskFullError) fails the action with nothing done. So an entry may name
 *   an action that did not happen (the append succeeded, then the action
 *   failed or the process died), never the other way round. For a publish
 *   the entry comes before head.json moves: `verifyAudit` reports a publish
 *   entry whose timestamp never became a head as *incomplete*, not as an
 *   error (AUDIT-COVERS is about the other direction).
 * - Entries are only ever added. A crash between appending the line and
 *   replacing the pointer leaves whole entries past the pointer: the next
 *   append takes them over (they chain), a partial line is cut off.
 * - The chain, the pointer and the log are checked by `verifyAudit`
 *   (AUDIT-CHAIN, AUDIT-ORDER, AUDIT-HEAD, AUDIT-COVERS); an append over a
 *   chain whose tail does not match its pointer is refused (fail closed).
 * - AUDIT-REFUSALS-BOUNDED: `RefusalAudit` writes at most `perWindow`
 *   refused pushes one by one per window, then one summary entry counting
 *   the rest by code.
 */
import { constants as fsc } from 'node:fs'
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { cidOf } from '../model/codec.js'
import { RepoError, ValidationError, diskFull } from '../model/errors.js'
import { CODEC_DAG_JSON } from '../model/hash.js'
import type { RuleId } from '../model/rules.js'
import { Fields, parseJson } from '../model/strictjson.js'
import { corrupt, parseHead, parseLog, type HeadRecord } from './files.js'
import { acquireLock, ensureDir, readCapped, writeAtomic } from './repo-io.js'

export const AUDIT_DIR = 'audit'
const CHAIN = 'chain.jsonl'
const POINTER = 'pointer.json'
const POINTER_FORMAT = 'dagtuf-audit-head/1'
/** Events of one append at most (a publish: publish, root-changed, draft-completed); a new log's first append adds its start entry. */
export const MAX_BATCH = 4

/**
 * Whether `entries` can be the work of one append: at most MAX_BATCH + 1 of
 * them, all with the same time (an append dates all its entries alike).
 * Entries past the pointer must be, or the pointer was moved back.
 */
function oneAppend (entries: readonly AuditEntry[]): boolean {
  return entries.length <= MAX_BATCH + 1 && entries.every((e) => e.time === entries[0]!.time)
}
/** One entry's line at most. */
const MAX_ENTRY_BYTES = 64 * 1024
const MAX_CHAIN_BYTES = 1024 * 1024 * 1024

export const AUDIT_ACTIONS = [
  'start', 'publish', 'online-resign', 'push-accepted', 'root-changed', 'draft-created', 'draft-signed',
  'draft-withdrawn', 'draft-completed', 'publish-failed', 'push-refused', 'push-refusals'
] as const
export type AuditAction = typeof AUDIT_ACTIONS[number]
/** The actions that move the head: each names the new head's timestamp in `details.timestamp`. */
export const HEAD_ACTIONS: ReadonlySet<AuditAction> = new Set(['publish', 'online-resign', 'push-accepted'])

export type DetailValue = string | number | boolean | null | readonly string[] | Readonly<Record<string, number>>
export interface AuditEvent {
  readonly action: AuditAction
  readonly details: Readonly<Record<string, DetailValue>>
}

export interface AuditEntry extends AuditEvent {
  readonly v: 1
  readonly seq: number
  readonly time: string
  readonly prev: CID | null
}

/** An entry as read back: its CID and its place in the file. */
export interface StoredEntry {
  readonly cid: CID
  readonly entry: AuditEntry
}

interface Pointer { cid: CID, seq: number, time: string, bytes: number }

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/
const DETAIL_KEY = /^[a-zA-Z][a-zA-Z0-9]{0,31}$/
const DETAIL_TEXT = /^[\x20-\x7e]{0,256}$/

/** The folder of the audit log of the repository in `dir`. */
export function auditDir (repoDir: string): string { return join(repoDir, AUDIT_DIR) }

/**
 * `details` checked: short printable strings, finite numbers, booleans,
 * string lists, code counts; keys are short identifiers. What an event may
 * carry is also kept small by its builders below (AUDIT-NO-SECRETS).
 */
function checkDetails (d: Readonly<Record<string, DetailValue>>): void {
  const keys = Object.keys(d)
  if (keys.length > 24) throw new RangeError('audit details: more than 24 fields')
  for (const k of keys) {
    if (!DETAIL_KEY.test(k)) throw new RangeError(`audit details: bad key ${JSON.stringify(k.slice(0, 40))}`)
    const v = d[k]
    const text = (s: unknown): boolean => typeof s === 'string' && DETAIL_TEXT.test(s)
    const ok = v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || text(v) ||
      (Array.isArray(v) && v.length <= 64 && v.every(text)) ||
      (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length <= 64 && Object.entries(v).every(([c, n]) => DETAIL_KEY.test(c.replace(/[_-]/g, '')) && Number.isSafeInteger(n)))
    if (!ok) throw new RangeError(`audit details: ${k} is not a short string, number, list or count map`)
  }
}

function entryBytes (e: AuditEntry): Uint8Array {
  return dagJson.encode({ v: e.v, seq: e.seq, time: e.time, prev: e.prev, action: e.action, details: e.details })
}

/** Decode one line; undefined when it is not a well-formed entry (the caller names the rule). */
export function decodeEntry (line: Uint8Array): AuditEntry | undefined {
  let x: unknown
  try { x = dagJson.decode(line) } catch { return undefined }
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined
  const o = x as Record<string, unknown>
  if (Object.keys(o).sort().join(',') !== 'action,details,prev,seq,time,v') return undefined
  if (o.v !== 1 || !Number.isSafeInteger(o.seq) || (o.seq as number) < 1) return undefined
  if (typeof o.time !== 'string' || !ISO_MS.test(o.time) || Number.isNaN(Date.parse(o.time))) return undefined
  const prev = o.prev === null ? null : CID.asCID(o.prev)
  if (prev === undefined || (prev !== null && prev.code !== CODEC_DAG_JSON)) return undefined
  if (typeof o.action !== 'string' || !(AUDIT_ACTIONS as readonly string[]).includes(o.action)) return undefined
  if (typeof o.details !== 'object' || o.details === null || Array.isArray(o.details)) return undefined
  try { checkDetails(o.details as Record<string, DetailValue>) } catch { return undefined }
  const entry: AuditEntry = { v: 1, seq: o.seq as number, time: o.time, prev, action: o.action as AuditAction, details: o.details as Record<string, DetailValue> }
  // Canonical: the bytes are exactly what the writer makes of the entry.
  const again = entryBytes(entry)
  if (again.byteLength !== line.byteLength || !again.every((b, i) => b === line[i])) return undefined
  return entry
}

function pointerText (p: Pointer): string {
  return JSON.stringify({ format: POINTER_FORMAT, cid: p.cid.toString(), seq: p.seq, time: p.time, bytes: p.bytes }) + '\n'
}

/** @throws {RepoError} ERR_REPO_CORRUPT */
function parsePointer (bytes: Uint8Array): Pointer {
  const onError = corrupt(`${AUDIT_DIR}/${POINTER}`)
  const f = Fields.of(parseJson(bytes, { maxBytes: 4096, onError, maxDepth: 4 }), '', onError)
  f.literal('format', POINTER_FORMAT)
  const text = f.str('cid', /^b[a-z2-7]{10,200}$/, 256)
  let cid: CID
  try { cid = CID.parse(text) } catch (e) { throw onError('cid: not a CID', e) }
  const seq = f.int('seq', 1, Number.MAX_SAFE_INTEGER)
  const time = f.str('time', ISO_MS, 64)
  const size = f.int('bytes', 1, Number.MAX_SAFE_INTEGER)
  f.done()
  return { cid, seq, time, bytes: size }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** The audit lock, waited for (up to about 5 s): appends are short. */
async function lockAudit (dir: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await acquireLock(join(dir, 'lock'))
    } catch (e) {
      if (!(e instanceof RepoError && e.code === 'ERR_REPO_LOCKED') || attempt >= 100) throw e
      await sleep(50)
    }
  }
}

function splitLines (bytes: Uint8Array): { lines: Uint8Array[], partial: number } {
  const lines: Uint8Array[] = []
  let start = 0
  for (let i = 0; i < bytes.byteLength; i++) {
    if (bytes[i] === 0x0a) { lines.push(bytes.subarray(start, i)); start = i + 1 }
  }
  return { lines, partial: bytes.byteLength - start }
}

/**
 * Where the chain ends, after taking over whole entries a crash left past
 * the pointer (and cutting a partial line). Under the lock.
 *
 * @throws {RepoError} ERR_REPO_CORRUPT when the chain's tail is not the pointer's (run `dagtuf audit verify`)
 */
async function tailOf (dir: string): Promise<Pointer | undefined> {
  const chainFile = join(dir, CHAIN)
  const pbytes = await readCapped(join(dir, POINTER), 4096)
  let size: number
  try { size = (await fs.stat(chainFile)).size } catch { size = 0 }
  const bad = (why: string): RepoError => new RepoError('ERR_REPO_CORRUPT', `the audit log in ${dir} does not match its head pointer (${why}): nothing is appended; see dagtuf audit verify`, { details: { path: dir } })
  const p = pbytes === undefined ? undefined : parsePointer(pbytes)
  const from = p?.bytes ?? 0
  if (size < from) throw bad('the chain is shorter than the pointer says')
  if (p !== undefined) {
    // The entry the pointer names ends exactly there and has its CID (a changed last entry, which no later one links, is caught here).
    const before = await readRange(chainFile, Math.max(0, from - MAX_ENTRY_BYTES - 2), Math.min(from, MAX_ENTRY_BYTES + 2))
    const end = before.byteLength - 1
    const start = before.lastIndexOf(0x0a, end - 1) + 1
    if (before[end] !== 0x0a || (start === 0 && from > before.byteLength) || !cidOf(before.subarray(start, end)).equals(p.cid)) {
      throw bad('the last entry is not the one the pointer names')
    }
  }
  if (size === from) return p
  if (size - from > (MAX_BATCH + 1) * (MAX_ENTRY_BYTES + 1)) throw bad(p === undefined ? 'no pointer' : 'more past the pointer than one append writes')
  const extra = await readRange(chainFile, from, size - from)
  const { lines, partial } = splitLines(extra)
  let at = p
  let offset = from
  const taken: AuditEntry[] = []
  for (const line of lines) {
    const e = decodeEntry(line)
    const cid = cidOf(line)
    const follows = at === undefined ? e?.seq === 1 && e.prev === null : e !== undefined && e.seq === at.seq + 1 && e.prev?.equals(at.cid) === true
    if (e === undefined || !follows) throw bad(`entries past the pointer do not continue it`)
    offset += line.byteLength + 1
    at = { cid, seq: e.seq, time: e.time, bytes: offset }
    taken.push(e)
  }
  if (!oneAppend(taken)) throw bad(p === undefined ? 'no pointer, and the entries are not those of one append' : 'the entries past the pointer are not those of one append (the pointer was moved back)')
  if (partial > 0) {
    try { await fs.truncate(chainFile, offset) } catch (e) {
      throw diskFull(e, chainFile) ?? new RepoError('ERR_REPO_IO', `could not repair ${chainFile}`, { cause: e, details: { path: chainFile } })
    }
  }
  if (at !== undefined && at !== p) await writeAtomic(join(dir, POINTER), pointerText(at))
  return at
}

async function readRange (path: string, from: number, length: number): Promise<Uint8Array> {
  const h = await fs.open(path, fsc.O_RDONLY)
  try {
    const buf = new Uint8Array(length)
    let off = 0
    while (off < length) {
      const { bytesRead } = await h.read(buf, off, length - off, from + off)
      if (bytesRead === 0) break
      off += bytesRead
    }
    return buf.subarray(0, off)
  } finally {
    await h.close()
  }
}

/** The time of an entry: now, or the previous entry's time if the clock went back (AUDIT-ORDER). */
function timeAfter (now: Date, previous: string | undefined): string {
  const t = previous === undefined ? now.getTime() : Math.max(now.getTime(), Date.parse(previous))
  return new Date(t).toISOString()
}

export interface AppendOptions {
  readonly now?: Date
}

/** The timestamp of head.json, or null (the `start` entry of a new log names it). */
async function currentHead (repoDir: string): Promise<string | null> {
  const bytes = await readCapped(join(repoDir, 'head.json'), 64 * 1024 * 1024)
  return bytes === undefined ? null : parseHead(bytes).timestamp.toString()
}

/**
 * Append `events` to the audit log of the repository in `repoDir`, durably
 * (AUDIT-WRITE-AHEAD): the lines are written and fsynced, then the pointer
 * is replaced atomically; only then does it return. A new log begins with a
 * `start` entry naming the head it starts from (head.json as it is then).
 *
 * @throws {DiskFullError} ERR_DISK_FULL; {RepoError} ERR_REPO_IO | ERR_REPO_CORRUPT (the chain's tail does not match its pointer) | ERR_REPO_LOCKED
 */
export async function appendAudit (repoDir: string, events: readonly AuditEvent[], options: AppendOptions = {}): Promise<StoredEntry[]> {
  if (events.length === 0) return []
  if (events.length > MAX_BATCH) throw new RangeError(`at most ${MAX_BATCH} audit entries at once`)
  for (const e of events) checkDetails(e.details)
  const dir = auditDir(repoDir)
  await ensureDir(dir, 0o755)
  const release = await lockAudit(dir)
  try {
    let tail = await tailOf(dir)
    const all = tail === undefined ? [{ action: 'start' as const, details: { head: await currentHead(repoDir) } }, ...events] : [...events]
    const now = options.now ?? new Date()
    const out: StoredEntry[] = []
    const lines: Uint8Array[] = []
    let bytes = tail?.bytes ?? 0
    for (const ev of all) {
      const entry: AuditEntry = { v: 1, seq: (tail?.seq ?? 0) + 1, time: timeAfter(now, tail?.time), prev: tail?.cid ?? null, action: ev.action, details: ev.details }
      const line = entryBytes(entry)
      if (line.byteLength > MAX_ENTRY_BYTES) throw new RangeError('an audit entry over 64 KiB')
      const cid = cidOf(line)
      bytes += line.byteLength + 1
      tail = { cid, seq: entry.seq, time: entry.time, bytes }
      out.push({ cid, entry })
      lines.push(line)
    }
    const chainFile = join(dir, CHAIN)
    const text = new Uint8Array(lines.reduce((n, l) => n + l.byteLength + 1, 0))
    let o = 0
    for (const l of lines) { text.set(l, o); o += l.byteLength; text[o++] = 0x0a }
    const before = bytes - text.byteLength
    try {
      const h = await fs.open(chainFile, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, 0o644)
      try {
        await h.writeFile(text)
        await h.sync()
      } finally {
        await h.close()
      }
    } catch (e) {
      // Nothing half written stays: the chain is cut back to where it was.
      await fs.truncate(chainFile, before).catch(() => {})
      throw diskFull(e, chainFile) ?? new RepoError('ERR_REPO_IO', `could not append to ${chainFile}`, { cause: e, details: { path: chainFile } })
    }
    await writeAtomic(join(dir, POINTER), pointerText(tail!))
    return out
  } finally {
    await release()
  }
}

// ---------------------------------------------------------------------------
// events

/** The entries of a head moving from `previous` (undefined: the first head) to `next`. */
export function headEvents (action: 'publish' | 'online-resign' | 'push-accepted', previous: HeadRecord | undefined, next: HeadRecord, extra: Readonly<Record<string, DetailValue>> = {}): AuditEvent[] {
  const out: AuditEvent[] = [{
    action,
    details: {
      timestamp: next.timestamp.toString(),
      previous: previous?.timestamp.toString() ?? null,
      snapshot: next.snapshot.toString(),
      root: next.root.toString(),
      source: next.source,
      changes: next.changes.slice(0, 64).map((c) => `${c.role}:${c.kind}${c.count !== undefined ? `:${c.count}` : ''}`.slice(0, 256)),
      ...extra
    }
  }]
  if (previous !== undefined && previous.root.toString() !== next.root.toString()) {
    out.push({ action: 'root-changed', details: { from: previous.root.toString(), to: next.root.toString(), timestamp: next.timestamp.toString() } })
  }
  if (next.source.startsWith('draft-')) out.push({ action: 'draft-completed', details: { draft: next.source, timestamp: next.timestamp.toString() } })
  return out
}

/** A draft's entry: its id and what names it (roles, keyids, the head it was made over). */
export function draftEvent (action: 'draft-created' | 'draft-signed' | 'draft-withdrawn', draft: string, details: { base?: string, roles?: readonly string[], keyids?: readonly string[] } = {}): AuditEvent {
  return {
    action,
    details: {
      draft,
      ...(details.base !== undefined ? { base: details.base } : {}),
      ...(details.roles !== undefined ? { roles: details.roles.slice(0, 64) } : {}),
      ...(details.keyids !== undefined ? { keyids: [...new Set(details.keyids)].slice(0, 64) } : {})
    }
  }
}

// ---------------------------------------------------------------------------
// reading and verifying

export interface AuditProblem {
  readonly rule: RuleId
  readonly message: string
  readonly seq?: number
}

export interface AuditReport {
  readonly ok: boolean
  readonly entries: StoredEntry[]
  /** What the pointer says (undefined when it is missing or unreadable). */
  readonly head?: { cid: string, seq: number }
  readonly problems: AuditProblem[]
  /** Publish entries whose timestamp never became a head (the action failed or the process stopped after the entry). */
  readonly incomplete: Array<{ seq: number, timestamp: string, reason: string }>
  /** Whole entries past the pointer (a crash between the two writes of an append; taken over by the next append). */
  readonly unacknowledged: number
}

/**
 * Read and check the audit log of the repository in `repoDir` against
 * itself (AUDIT-CHAIN, AUDIT-ORDER, AUDIT-HEAD), against `anchors` (entry
 * CIDs kept elsewhere: AUDIT-ANCHOR) and against the published heads of
 * log.jsonl and head.json (AUDIT-COVERS). Never writes.
 *
 * @throws {RepoError} ERR_REPO_IO when a file cannot be read
 */
export async function verifyAudit (repoDir: string, options: { anchors?: readonly CID[] } = {}): Promise<AuditReport> {
  const dir = auditDir(repoDir)
  const problems: AuditProblem[] = []
  const chainBytes = await readCapped(join(dir, CHAIN), MAX_CHAIN_BYTES).catch((e: unknown) => {
    if (e instanceof RepoError && e.code === 'ERR_REPO_CORRUPT') { problems.push({ rule: 'AUDIT-HEAD', message: `${CHAIN} is not a regular file or too large` }); return new Uint8Array() }
    throw e
  })
  let pointer: Pointer | undefined
  try {
    const pb = await readCapped(join(dir, POINTER), 4096)
    // A missing pointer over at most one append's entries is a first append that stopped before it (checked below).
    if (pb !== undefined) pointer = parsePointer(pb)
  } catch (e) {
    if (!(e instanceof RepoError && e.code === 'ERR_REPO_CORRUPT')) throw e
    problems.push({ rule: 'AUDIT-HEAD', message: `${AUDIT_DIR}/${POINTER} is malformed or truncated: ${e.message}` })
  }
  const entries: StoredEntry[] = []
  const bytes = chainBytes ?? new Uint8Array()
  // A partial last line (an append cut short) is not an entry: the next append cuts it off.
  const { lines } = splitLines(bytes)
  let offset = 0
  let atPointer = -1
  for (const [i, line] of lines.entries()) {
    const cid = cidOf(line)
    offset += line.byteLength + 1
    const e = decodeEntry(line)
    const before = entries[entries.length - 1]
    if (e === undefined) {
      problems.push({ rule: 'AUDIT-CHAIN', message: `line ${i + 1} is not a well-formed audit entry`, ...(before !== undefined ? { seq: before.entry.seq + 1 } : {}) })
      break
    }
    const expectPrev = before?.cid ?? null
    const linked = expectPrev === null ? e.prev === null : e.prev?.equals(expectPrev) === true
    if (!linked) {
      problems.push({ rule: 'AUDIT-CHAIN', seq: e.seq, message: `entry ${e.seq} (line ${i + 1}) does not link the entry before it: ${before === undefined ? 'the first entry must have prev null' : `expected prev ${expectPrev!.toString()}, found ${e.prev?.toString() ?? 'null'}`} (an entry was changed, removed, inserted or moved)` })
      break
    }
    if (e.seq !== (before?.entry.seq ?? 0) + 1) {
      problems.push({ rule: 'AUDIT-ORDER', seq: e.seq, message: `entry at line ${i + 1} has seq ${e.seq}, expected ${(before?.entry.seq ?? 0) + 1}` })
      break
    }
    if (before !== undefined && Date.parse(e.time) < Date.parse(before.entry.time)) {
      problems.push({ rule: 'AUDIT-ORDER', seq: e.seq, message: `entry ${e.seq} is dated ${e.time}, before entry ${before.entry.seq} (${before.entry.time})` })
      break
    }
    if (i === 0 && e.action !== 'start') {
      problems.push({ rule: 'AUDIT-CHAIN', seq: e.seq, message: 'the first entry is not a start entry' })
      break
    }
    entries.push({ cid, entry: e })
    if (pointer !== undefined && offset === pointer.bytes) atPointer = i
  }
  let unacknowledged = 0
  if (pointer !== undefined && problems.length === 0) {
    const last = entries[atPointer]
    if (atPointer < 0 || last === undefined) {
      problems.push({ rule: 'AUDIT-HEAD', seq: pointer.seq, message: `the pointer names entry ${pointer.seq} ending at byte ${pointer.bytes}, but the chain (${entries.length} entries, ${bytes.byteLength} bytes) has no entry ending there (entries were removed, or the pointer was changed)` })
    } else if (!last.cid.equals(pointer.cid) || last.entry.seq !== pointer.seq || last.entry.time !== pointer.time) {
      problems.push({ rule: 'AUDIT-HEAD', seq: pointer.seq, message: `the pointer names ${pointer.cid.toString()} (entry ${pointer.seq}) but the entry there is ${last.cid.toString()} (entry ${last.entry.seq}): the last entry was changed` })
    } else {
      unacknowledged = entries.length - 1 - atPointer
      if (!oneAppend(entries.slice(atPointer + 1).map((x) => x.entry))) problems.push({ rule: 'AUDIT-HEAD', seq: pointer.seq, message: `${unacknowledged} entries past the pointer: not those of one append (the pointer was moved back)` })
    }
  } else if (pointer === undefined && problems.length === 0 && !oneAppend(entries.map((x) => x.entry))) {
    problems.push({ rule: 'AUDIT-HEAD', message: `${AUDIT_DIR}/${POINTER} is missing, and the chain holds more than one append's entries` })
  } else if (pointer === undefined) {
    unacknowledged = entries.length
  }

  // AUDIT-ANCHOR: pointers copied elsewhere earlier still name entries of the chain.
  if (problems.length === 0) {
    const have = new Set(entries.map((e) => e.cid.toString()))
    for (const a of options.anchors ?? []) {
      if (!have.has(a.toString())) {
        problems.push({ rule: 'AUDIT-ANCHOR', message: `the anchored entry ${a.toString()} is not in the chain: the log was rewritten after it (or the anchor is of another repository)` })
        break
      }
    }
  }

  // AUDIT-COVERS: every head published since the log started is in a head-moving entry.
  const incomplete: AuditReport['incomplete'] = []
  const heads = await publishedHeads(repoDir)
  const audited = new Map<string, number>()
  const failed = new Set<string>()
  for (const { entry } of entries) {
    const ts = entry.details.timestamp
    if (HEAD_ACTIONS.has(entry.action) && typeof ts === 'string') audited.set(ts, entry.seq)
    if (entry.action === 'publish-failed' && typeof ts === 'string') failed.add(ts)
  }
  const start = entries[0]?.entry
  if (start !== undefined && problems.length === 0) {
    const from = typeof start.details.head === 'string' ? heads.indexOf(start.details.head) : -1
    if (typeof start.details.head === 'string' && from < 0) {
      problems.push({ rule: 'AUDIT-COVERS', seq: start.seq, message: `the log starts at head ${start.details.head}, which is not in log.jsonl` })
    }
    for (const ts of heads.slice(from + 1)) {
      if (!audited.has(ts)) {
        problems.push({ rule: 'AUDIT-COVERS', message: `the published head ${ts} (log.jsonl) is not in the audit log` })
        break
      }
    }
    const published = new Set(heads)
    for (const { entry } of entries) {
      const ts = entry.details.timestamp
      if (!HEAD_ACTIONS.has(entry.action) || typeof ts !== 'string' || published.has(ts)) continue
      incomplete.push({ seq: entry.seq, timestamp: ts, reason: failed.has(ts) ? 'the publish failed after its entry (a publish-failed entry says why)' : 'the head never moved to it: the process stopped, or failed, between the entry and head.json' })
    }
  } else if (start === undefined && problems.length === 0 && heads.length > 0) {
    problems.push({ rule: 'AUDIT-COVERS', message: chainBytes === undefined ? 'the repository has no audit log (it begins with the next action of this version of dagtuf)' : 'the audit log is empty but the repository has published heads' })
  }
  return {
    ok: problems.length === 0,
    entries,
    ...(pointer !== undefined ? { head: { cid: pointer.cid.toString(), seq: pointer.seq } } : {}),
    problems,
    incomplete,
    unacknowledged
  }
}

/** The timestamps of every published head, oldest first (log.jsonl, then head.json when its line is missing). */
async function publishedHeads (repoDir: string): Promise<string[]> {
  const bytes = await readCapped(join(repoDir, 'log.jsonl'), 1024 * 1024 * 1024)
  const out = bytes === undefined ? [] : parseLog(bytes).map((h) => h.timestamp.toString())
  const ts = await currentHead(repoDir)
  if (ts !== null && out[out.length - 1] !== ts) out.push(ts)
  return out
}

/**
 * The first problem of a report as a ValidationError (code = its rule), for
 * callers that want to throw.
 */
export function auditError (report: AuditReport): ValidationError | undefined {
  const p = report.problems[0]
  return p === undefined ? undefined : new ValidationError(p.rule, p.message, { details: p.seq !== undefined ? { seq: p.seq } : {} })
}

/** An entry as plain JSON (CIDs as text). */
export function entryJson (s: StoredEntry): Record<string, unknown> {
  return { cid: s.cid.toString(), seq: s.entry.seq, time: s.entry.time, prev: s.entry.prev?.toString() ?? null, action: s.entry.action, details: s.entry.details }
}

// ---------------------------------------------------------------------------
// refused pushes

export interface RefusalAuditOptions {
  /** Refusals written one by one per window (default 10). */
  readonly perWindow?: number
  /** The window, in ms (default one minute). */
  readonly windowMs?: number
  readonly now?: () => number
}

/**
 * Refused pushes come from anyone: the first `perWindow` of each window are
 * written one by one, the rest only counted, by code, into one
 * `push-refusals` entry written when the next window begins (or at `flush`).
 * So the log grows by at most perWindow + 1 entries a window, whatever is
 * sent (AUDIT-REFUSALS-BOUNDED).
 */
export class RefusalAudit {
  readonly #repoDir: string
  readonly #perWindow: number
  readonly #windowMs: number
  readonly #now: () => number
  #windowStart = -Infinity
  #written = 0
  #counted = new Map<string, number>()
  #chain: Promise<unknown> = Promise.resolve()

  constructor (repoDir: string, options: RefusalAuditOptions = {}) {
    this.#repoDir = repoDir
    this.#perWindow = options.perWindow ?? 10
    this.#windowMs = options.windowMs ?? 60_000
    this.#now = options.now ?? Date.now
  }

  /** Record one refusal (code from the registry's fixed list, rule ID when there is one). */
  async refused (r: { code: string, status: number, rule?: string }): Promise<void> {
    const run = this.#chain.then(async () => {
      const t = this.#now()
      const events: AuditEvent[] = []
      if (t - this.#windowStart >= this.#windowMs) {
        events.push(...this.#summary())
        this.#windowStart = t
        this.#written = 0
      }
      const code = /^ERR_[A-Z_]{1,40}$/.test(r.code) ? r.code : 'other'
      if (this.#written < this.#perWindow) {
        this.#written++
        events.push({ action: 'push-refused', details: { code, status: r.status, ...(r.rule !== undefined && /^[A-Z][A-Z-]{1,40}$/.test(r.rule) ? { rule: r.rule } : {}) } })
      } else {
        this.#counted.set(code, (this.#counted.get(code) ?? 0) + 1)
      }
      await appendAudit(this.#repoDir, events)
    })
    this.#chain = run.catch(() => {})
    await run
  }

  /** Write the counts of the current window, if any (at close). */
  async flush (): Promise<void> {
    const run = this.#chain.then(async () => { await appendAudit(this.#repoDir, this.#summary()) })
    this.#chain = run.catch(() => {})
    await run
  }

  #summary (): AuditEvent[] {
    if (this.#counted.size === 0) return []
    const counts = Object.fromEntries([...this.#counted].sort(([a], [b]) => a < b ? -1 : 1).slice(0, 64))
    const total = [...this.#counted.values()].reduce((a, b) => a + b, 0)
    this.#counted = new Map()
    return [{ action: 'push-refusals', details: { count: total, codes: counts, windowMs: this.#windowMs } }]
  }
}
