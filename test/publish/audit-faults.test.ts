/**
 * AUDIT-WRITE-AHEAD with a full disk (NOTES 10.3): when the audit entry of
 * an action cannot be written the action is refused (ERR_DISK_FULL naming
 * the audit file) and nothing of it is done; when the entry was written and
 * the action then failed, `audit verify` explains it (incomplete publish).
 *
 * The full disk is injected by test/helpers/full-disk.ts: node:fs/promises
 * is mocked so that writes through handles opened on chosen paths fail with
 * ENOSPC.
 */
import * as realFs from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { verifyAudit } from '../../src/publish/audit.js'
import { dagtufJson as dagtuf } from '../helpers/cli.js'
import type { FullDisk } from '../helpers/full-disk.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, type MadeRepo } from '../helpers/repo.js'

const fault = vi.hoisted(() => ({ when: null as FullDisk['when'], code: 'ENOSPC', hits: 0 }))

vi.mock('node:fs/promises', async (importOriginal) => (await import('../helpers/full-disk.js')).fullDiskFs(await importOriginal(), fault))

let work: TempDir
let repo: MadeRepo

beforeAll(async () => {
  work = await tempDir('dagtuf-audit-faults-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n' })
}, 60_000)
afterAll(async () => { await work.remove() })
afterEach(() => { fault.when = null; fault.hits = 0 })

describe('a full disk while appending to the audit log', () => {
  it('AUDIT-WRITE-AHEAD: the publish is refused with ERR_DISK_FULL naming the chain, head.json and the log are unchanged, the chain is cut back; the next publish works', async () => {
    const head = await realFs.readFile(join(repo.dir, 'head.json'))
    const log = await realFs.readFile(join(repo.dir, 'log.jsonl'))
    const chain = await realFs.readFile(join(repo.dir, 'audit', 'chain.jsonl'))
    fault.when = (p) => p.endsWith(join('audit', 'chain.jsonl'))
    const r = await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')
    expect(fault.hits).toBeGreaterThan(0)
    expect(r.code).toBe(1)
    expect(r.json.error.code).toBe('ERR_DISK_FULL')
    expect(r.json.error.path).toBe(join(repo.dir, 'audit', 'chain.jsonl'))
    expect(await realFs.readFile(join(repo.dir, 'head.json'))).toEqual(head)
    expect(await realFs.readFile(join(repo.dir, 'log.jsonl'))).toEqual(log)
    expect(await realFs.readFile(join(repo.dir, 'audit', 'chain.jsonl'))).toEqual(chain)
    expect((await verifyAudit(repo.dir)).ok).toBe(true)
    fault.when = null
    expect((await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')).code).toBe(0)
    const v = await verifyAudit(repo.dir)
    expect(v.problems).toEqual([])
    expect(v.incomplete).toEqual([])
  })

  it('AUDIT-WRITE-AHEAD: the pointer cannot be replaced: the publish is refused, head unchanged; the entry is reported as unacknowledged and incomplete, then taken over', async () => {
    const head = await realFs.readFile(join(repo.dir, 'head.json'))
    fault.when = (p) => p.includes(join('audit', '.pointer.json.'))
    const r = await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')
    expect(fault.hits).toBeGreaterThan(0)
    expect(r.json.error.code).toBe('ERR_DISK_FULL')
    expect(r.json.error.path).toBe(join(repo.dir, 'audit', 'pointer.json'))
    expect(await realFs.readFile(join(repo.dir, 'head.json'))).toEqual(head)
    fault.when = null
    const v = await verifyAudit(repo.dir)
    expect(v.ok).toBe(true)
    expect(v.unacknowledged).toBe(1)
    expect(v.incomplete).toHaveLength(1)
    expect(v.incomplete[0]!.reason).toContain('never moved')
    expect((await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')).code).toBe(0)
    const after = await verifyAudit(repo.dir)
    expect(after.problems).toEqual([])
    expect(after.unacknowledged).toBe(0)
  })

  it('AUDIT-WRITE-AHEAD: head.json cannot be written after the entry: the publish is refused and a publish-failed entry explains the incomplete publish', async () => {
    const head = await realFs.readFile(join(repo.dir, 'head.json'))
    fault.when = (p) => p.startsWith(join(repo.dir, '.head.json.'))
    const r = await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')
    expect(r.json.error.code).toBe('ERR_DISK_FULL')
    expect(await realFs.readFile(join(repo.dir, 'head.json'))).toEqual(head)
    fault.when = null
    const v = await verifyAudit(repo.dir)
    expect(v.problems).toEqual([])
    const last = v.entries.slice(-2).map((e) => e.entry)
    expect(last.map((e) => e.action)).toEqual(['publish', 'publish-failed'])
    expect(last[1]!.details).toEqual({ timestamp: last[0]!.details.timestamp, code: 'ERR_DISK_FULL' })
    // (the incomplete publish of the test before is still reported, before this one)
    expect(v.incomplete[v.incomplete.length - 1]).toEqual({ seq: v.entries.length - 1, timestamp: last[0]!.details.timestamp, reason: expect.stringContaining('publish-failed') })
    const a = await dagtuf('audit', 'verify', '--dir', repo.dir)
    expect(a.code).toBe(0)
  })
})
