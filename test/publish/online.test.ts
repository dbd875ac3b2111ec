/**
 * Online re-signing (NOTES 10.2) with an injected clock: nothing happens
 * before the computed time, one re-sign at it, the next time computed from
 * the new head, the snapshot's period taken into account, and the real-timer
 * loop re-signs a head that is already due.
 */
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { OnlineResigner } from '../../src/publish/online.js'
import { Repo } from '../../src/publish/repo.js'
import { loadCurrent } from '../../src/publish/state.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { verifyRepoHead } from '../cli/publish-helpers.js'

async function ok (...argv: string[]): Promise<Record<string, any>> {
  const out: string[] = []
  const code = await main([...argv, '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })
  expect(code, out.join('\n')).toBe(0)
  return JSON.parse(out[0]!) as Record<string, any>
}

let work: TempDir
beforeAll(async () => { work = await tempDir('dagtuf-online-') })
afterAll(async () => { await work.remove() })

/** A repository whose key folder holds only the snapshot and timestamp keys. */
async function onlineRepo (name: string): Promise<string> {
  const dir = join(work.path, name)
  await ok('init', '--dir', dir)
  const vault = join(work.path, `${name}-vault`)
  await mkdir(vault)
  for (const n of await readdir(join(dir, 'keys'))) if (n.startsWith('root-') || n.startsWith('targets-')) await rename(join(dir, 'keys', n), join(vault, n))
  return dir
}

const DAY = 86400_000

describe('online re-signing', () => {
  it('re-signs snapshot and timestamp once half the timestamp period is left, and computes the next time from the new head', async () => {
    const dir = await onlineRepo('schedule')
    const repo = await Repo.open(dir)
    try {
      const first = await ok('head', '--dir', dir)
      let clock = Date.now()
      const lines: string[] = []
      const r = new OnlineResigner({ repo, now: () => new Date(clock), log: (l) => lines.push(l) })
      // Defaults: timestamp 1d, snapshot 7d: due half a day before the timestamp expires.
      const tsExpires = Date.parse((await loadCurrent(repo, await repo.node())).published.timestamp.signed.expires)
      const due = (await r.due()).getTime()
      expect(due).toBe(tsExpires - DAY / 2)
      expect(due).toBeGreaterThan(clock)

      expect(await r.tick()).toBeUndefined()
      clock = due - 1000
      expect(await r.tick()).toBeUndefined()
      expect((await ok('head', '--dir', dir)).timestamp).toBe(first.timestamp)
      expect(lines).toEqual([])

      clock = due
      const head = await r.tick()
      expect(head).toBeDefined()
      expect(head!.timestamp.toString()).not.toBe(first.timestamp)
      expect((await ok('head', '--dir', dir)).timestamp).toBe(head!.timestamp.toString())
      // Same root and targets: only the snapshot and timestamp are new.
      expect(head!.root.toString()).toBe(first.root)
      expect(head!.targets.toString()).toBe(first.targets)
      await verifyRepoHead(dir, first.timestamp)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(head!.timestamp.toString())
      // The next one: half a day after this re-sign (whole seconds, as expiry times are).
      expect((await r.due()).getTime()).toBe(Math.floor(clock / 1000) * 1000 + DAY / 2)
      expect(await r.tick()).toBeUndefined()

      // A service that was down for days re-signs once when it comes back, not once per missed period.
      clock += 5 * DAY
      const late = await r.tick()
      expect(late).toBeDefined()
      expect(await r.tick()).toBeUndefined()
      await verifyRepoHead(dir, first.timestamp)
      expect(lines).toHaveLength(2)
    } finally {
      await repo.close()
    }
  }, 60_000)

  it('takes the snapshot period into account when it is the shorter one to re-sign for', async () => {
    const dir = await onlineRepo('snapshot-period')
    await writeFile(join(dir, 'config.json'), JSON.stringify({ format: 'dagtuf-config/1', expiry: { root: '365d', targets: '90d', snapshot: '2d', timestamp: '10d', delegated: '90d' } }))
    const repo = await Repo.open(dir)
    try {
      let clock = Date.now() + 3 * DAY
      const r = new OnlineResigner({ repo, now: () => new Date(clock) })
      // The first head was made with the default periods; at +3 days it is due (1d timestamp).
      expect(await r.tick()).toBeDefined()
      // Now timestamp 10d and snapshot 2d: due when 1 of the snapshot's 2 days is left, i.e. a day from now.
      expect((await r.due()).getTime()).toBe(Math.floor(clock / 1000) * 1000 + DAY)
      clock += DAY - 1000
      expect(await r.tick()).toBeUndefined()
      clock += 1000
      expect(await r.tick()).toBeDefined()
    } finally {
      await repo.close()
    }
  }, 60_000)

  it('with real timers, re-signs a head that is already due at start, then waits', async () => {
    const dir = await onlineRepo('loop')
    const repo = await Repo.open(dir)
    try {
      const first = await ok('head', '--dir', dir)
      let running: { stop: () => void } | undefined
      const logged = new Promise<string>((resolve) => {
        running = new OnlineResigner({ repo, now: () => new Date(Date.now() + 2 * DAY), log: resolve }).start()
      })
      try {
        expect(await logged).toMatch(/^online re-sign at /)
      } finally {
        running?.stop()
      }
      const now = await ok('head', '--dir', dir)
      expect(now.timestamp).not.toBe(first.timestamp)
      await verifyRepoHead(dir, first.timestamp)
    } finally {
      await repo.close()
    }
  }, 60_000)
})
