/**
 * `dagtuf client ... --log-json FILE` (issue 17 item 1, src/cli/event-log.ts):
 * the Updater's events appended to FILE as NDJSON, read back here after an
 * accepted update, a refused one and a download.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'

let work: TempDir
let repo: MadeRepo

beforeAll(async () => {
  work = await tempDir('dagtuf-cli-log-json-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n' })
}, 60_000)
afterAll(async () => { await work.remove() })

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

/** The file's lines, each parsed (every line must be one JSON object). */
async function lines (file: string): Promise<Array<Record<string, any>>> {
  const text = await readFile(file, 'utf8')
  expect(text.endsWith('\n')).toBe(true)
  return text.slice(0, -1).split('\n').map((l) => {
    const o = JSON.parse(l) as unknown
    expect(typeof o === 'object' && o !== null && !Array.isArray(o)).toBe(true)
    return o as Record<string, any>
  })
}

describe('dagtuf client --log-json FILE', () => {
  it('appends init, an accepted update, a refused update (with its rule ID, state unchanged), an honest update and a download, one JSON object per line', async () => {
    const dir = join(work.path, 'c1')
    const log = join(work.path, 'logs', 'events.ndjson')
    await mkdir(join(work.path, 'logs'))
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir, '--log-json', log)).code).toBe(0)
    expect((await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--log-json', log)).code).toBe(0)
    let got = await lines(log)
    expect(got.map((l) => l.type)).toEqual(['init', 'update.accepted'])
    expect(got[0]).toMatchObject({ v: 1, operation: 'init', root: repo.root, changed: true })
    expect(got[1]).toMatchObject({ v: 1, operation: 'refresh', from: { root: repo.root, timestamp: null }, to: { timestamp: repo.timestamps.at(-1) }, continuity: 'first' })
    expect(got[1]!.fetched.sources[0].source).toBe(repo.dir)
    expect(got[1]!.rules).toContain('CLIENT-ROOT-CHAIN')

    // A rollback: refused, the rule ID in the line, state.json byte for byte unchanged.
    const before = await readFile(join(dir, 'state.json'), 'utf8')
    const back = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--timestamp', repo.timestamps[0]!, '--log-json', log)
    expect(back.code).toBe(1)
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe(before)
    got = await lines(log)
    expect(got).toHaveLength(3)
    expect(got[2]).toMatchObject({ type: 'refused', operation: 'refresh', rule: 'CLIENT-TS-DESCENDS', cid: repo.timestamps[0], source: repo.dir })
    expect(got[2]!.violations.count).toBeGreaterThan(0)

    // An honest update afterwards is accepted, and appended after the refusal.
    const ts = await publishMore(repo, work.path, { 'c.txt': 'C\n' })
    const out = join(work.path, 'c.out')
    expect((await dagtuf('client', 'get', '--dir', dir, 'c.txt', '-o', out, '--update', '--repo', repo.dir, '--log-json', log)).code).toBe(0)
    got = await lines(log)
    expect(got.map((l) => l.type)).toEqual(['init', 'update.accepted', 'refused', 'update.accepted', 'download'])
    expect(got[3]).toMatchObject({ to: { timestamp: ts }, continuity: 'descends', changed: { items: ['timestamp', 'snapshot', 'targets'], count: 3 } })
    expect(got[4]).toMatchObject({ type: 'download', path: 'c.txt', length: 2, role: 'targets' })
    expect(await readFile(out, 'utf8')).toBe('C\n')
  })

  it.skipIf(!existsSync('/dev/full'))('a full disk while appending is reported (ERR_DISK_FULL, exit 1), never silent; a refusal keeps its own code and says so on stderr', async () => {
    const dir = join(work.path, 'c3')
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir)).code).toBe(0)
    // The update itself stands (its state is written before its event); the missing line is an error.
    const full = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--timestamp', repo.timestamps[1]!, '--log-json', '/dev/full', '--json')
    expect(full.code).toBe(1)
    expect(JSON.parse(full.out[0]!)).toMatchObject({ error: { code: 'ERR_DISK_FULL' } })
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'))).toMatchObject({ trusted: { timestamp: repo.timestamps[1] } })
    // A refused rollback stays CLIENT-TS-DESCENDS; the log's failure is a warning beside it.
    const before = await readFile(join(dir, 'state.json'), 'utf8')
    const back = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--timestamp', repo.timestamps[0]!, '--log-json', '/dev/full')
    expect(back.code).toBe(1)
    expect(back.err.join('\n')).toMatch(/^dagtuf: CLIENT-TS-DESCENDS: /m)
    expect(back.err.join('\n')).toMatch(/warning: .*no space left/)
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe(before)
  })

  it('a log that cannot be opened stops the command before it updates anything (ERR_STATE_IO); the file is created when absent, never truncated', async () => {
    const dir = join(work.path, 'c2')
    expect((await dagtuf('client', 'init', '--dir', dir, '--root', repo.root, '--repo', repo.dir)).code).toBe(0)
    const before = await readFile(join(dir, 'state.json'), 'utf8')
    const bad = await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--log-json', join(work.path, 'no-such-dir', 'events.ndjson'), '--json')
    expect(bad.code).toBe(1)
    expect(JSON.parse(bad.out[0]!)).toMatchObject({ error: { code: 'ERR_STATE_IO' } })
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe(before)
    // A directory is no log either.
    expect((await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--log-json', work.path)).err.join('')).toMatch(/ERR_STATE_IO/)
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe(before)

    const log = join(work.path, 'kept.ndjson')
    await writeFile(log, '{"earlier":true}\n')
    expect((await dagtuf('client', 'update', '--dir', dir, '--repo', repo.dir, '--log-json', log)).code).toBe(0)
    const got = await lines(log)
    expect(got[0]).toEqual({ earlier: true })
    expect(got[1]).toMatchObject({ type: 'update.accepted' })
  })
})
