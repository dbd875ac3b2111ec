/** `dagtuf demo` tells the whole story and leaves nothing behind. */
import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'

it('dagtuf demo: publish, serve, update, download, update again; rollback and tampering refused with their rules', async () => {
  const before = new Set((await readdir(tmpdir())).filter((n) => n.startsWith('dagtuf-demo-')))
  const out: string[] = []
  const err: string[] = []
  const code = await main(['demo', '--json'], { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  expect(err).toEqual([])
  expect(code).toBe(0)
  expect(out).toHaveLength(1)
  const r = JSON.parse(out[0]!) as { ok: boolean, steps: Array<{ step: string, ok: boolean, refused?: string }> }
  expect(r.ok).toBe(true)
  expect(r.steps.filter((s) => s.refused !== undefined).map((s) => [s.step, s.refused])).toEqual([
    ['rollback to v1', 'CLIENT-TS-DESCENDS'],
    ['tampered metadata', 'ENC-CID'],
    ['tampered target', 'CLIENT-TARGET-CONTENT']
  ])
  const after = (await readdir(tmpdir())).filter((n) => n.startsWith('dagtuf-demo-') && !before.has(n))
  expect(after).toEqual([])
}, 60_000)
