/**
 * `dagtuf draft show`: what a draft changes against the live head (issue 14
 * item 6), in words and with --json: root keys and thresholds, delegation
 * keys and roles (added, removed, changed), targets added, removed and
 * changed, expiry; a re-sign that changes nothing else says so; an exported
 * draft file alone shows what the publisher recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, mkdir, rename, rm, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/cli/main.js'
import { LIST_MAX, type DraftDiff } from '../../src/cli/commands/draft-diff.js'
import { cli, ok } from './publish-helpers.js'

async function text (...args: string[]): Promise<{ code: number, lines: string[] }> {
  const lines: string[] = []
  const code = await main(args, { out: (l) => { lines.push(l) }, err: () => {}, tty: false })
  return { code, lines }
}

describe('dagtuf draft show: the draft against the head', () => {
  let work = ''
  let dir = ''
  let oldRoot = ''
  const file = (n: string): string => join(work, n)

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dagtuf-draft-show-'))
    dir = file('repo')
    const init = await ok('init', '--dir', dir)
    oldRoot = (init.keys as Array<{ role: string, keyid: string }>).find((k) => k.role === 'root')!.keyid
    for (const n of ['a', 'b', 'keep']) await writeFile(file(`${n}.txt`), `${n} 1`)
    await ok('add', '--dir', dir, file('a.txt'), file('b.txt'), file('keep.txt'))
    for (const k of ['bob', 'carol', 'root2']) await ok('keygen', '--out', file(`${k}.key`))
    await ok('delegate', '--dir', dir, 'bob', '--key', file('bob.key.pub'), '--threshold', '1', '--paths', 'bob/*')
    await ok('delegate', '--dir', dir, 'carol', '--key', file('carol.key.pub'), '--threshold', '1', '--paths', 'carol/*')
    // bob and carol must sign their first (empty) objects.
    const first = await ok('publish', '--dir', dir)
    await ok('sign', '--dir', dir, '--draft', first.draft as string, '--key', file('bob.key'), file('carol.key'))
  })

  afterAll(async () => { await rm(work, { recursive: true, force: true }) })

  it('lists root keys and thresholds, delegations added, removed and changed, and targets added, removed and changed', async () => {
    const before = await ok('head', '--dir', dir)
    // The targets key goes offline, so the change stops at a draft.
    const targetsKeyFile = (await readdir(join(dir, 'keys'))).find((f) => f.startsWith('targets-'))!
    await rename(join(dir, 'keys', targetsKeyFile), file(targetsKeyFile))
    await writeFile(file('a.txt'), 'a 2, longer')
    await writeFile(file('c.txt'), 'c 1')
    await ok('add', '--dir', dir, file('a.txt'), '--replace')
    await ok('add', '--dir', dir, file('c.txt'))
    await ok('remove', '--dir', dir, 'b.txt')
    await ok('undelegate', '--dir', dir, 'carol')
    const root2 = (await ok('keygen', '--out', file('root3.key'))).keyid as string
    const root2b = (await ok('keygen', '--out', file('root4.key'))).keyid as string
    await ok('rotate', '--dir', dir, 'root', '--key', file('root3.key.pub'), file('root4.key.pub'), '--threshold', '2')
    const d = await ok('publish', '--dir', dir)
    expect(d.draft).toMatch(/^draft-/)

    const shown = await ok('draft', 'show', '--dir', dir)
    const diff = shown.diff as DraftDiff
    expect(diff.head).toBe(before.timestamp)
    expect(diff.madeFromHead).toBe(true)
    const root = diff.objects.find((o) => o.role === 'root')!
    expect(root.root).toEqual({
      keys: { added: [root2, root2b].sort(), removed: [oldRoot] },
      roles: { root: { added: [root2, root2b].sort(), removed: [oldRoot], threshold: { before: 1, after: 2 } } }
    })
    expect(root.resignedOnly).toBe(false)
    const targets = diff.objects.find((o) => o.role === 'targets')!
    expect(targets.created).toBe(false)
    expect(targets.targets!.counts).toEqual({ added: 1, removed: 1, changed: 1 })
    expect(targets.targets!.added.map((t) => [t.path, t.length])).toEqual([['c.txt', 3]])
    expect(targets.targets!.removed.map((t) => t.path)).toEqual(['b.txt'])
    expect(targets.targets!.changed.map((t) => [t.path, t.before.length, t.after.length])).toEqual([['a.txt', 3, 11]])
    expect(targets.targets!.truncated).toBe(false)
    expect(targets.delegations!.removed).toEqual(['carol'])
    expect(targets.delegations!.added).toEqual([])
    expect(targets.delegations!.keys.removed).toHaveLength(1)
    expect(targets.delegations!.keys.added).toEqual([])
    // The raw objects are still there for --json readers.
    expect(Object.keys(shown.objects as object).sort()).toEqual(['root', 'targets'])

    const { code, lines } = await text('draft', 'show', '--dir', dir)
    expect(code).toBe(0)
    expect(lines).toContain(`  key added     ${[root2, root2b].sort()[0]!}`)
    expect(lines).toContain(`  key removed   ${oldRoot}`)
    expect(lines.some((l) => l.startsWith('  role root: threshold 1 -> 2, keys +'))).toBe(true)
    expect(lines).toContain('  no longer delegates to carol')
    expect(lines.some((l) => l.startsWith('  target added   c.txt (3 bytes, '))).toBe(true)
    expect(lines).toContain('  target removed b.txt')
    expect(lines.some((l) => l.startsWith('  target changed a.txt (3 -> 11 bytes, '))).toBe(true)
    // Without --objects, no JSON dump.
    expect(lines.some((l) => l.startsWith('--- '))).toBe(false)
    expect((await text('draft', 'show', '--dir', dir, '--objects')).lines).toContain('--- root')

    // An exported file alone (another machine): no comparison, the publisher's record; with --dir: the same diff.
    await ok('draft', 'export', '--dir', dir, d.draft as string, '-o', file('d.json'))
    const alone = await ok('draft', 'show', '--draft-file', file('d.json'))
    expect(alone.diff).toBeNull()
    expect(alone.changes).toEqual(expect.arrayContaining([{ role: 'targets', kind: 'targets-added', count: 1 }]))
    const aloneLines = (await text('draft', 'show', '--draft-file', file('d.json'))).lines
    expect(aloneLines.some((l) => l.startsWith('no repository (--dir) to compare with'))).toBe(true)
    // What the new root says by itself: its keys and thresholds.
    expect(aloneLines).toContain(`  role root: 2 of 2 key(s): ${[root2, root2b].map((k) => k.slice(0, 16)).join(', ')}`)
    expect((await ok('draft', 'show', '--draft-file', file('d.json'), '--dir', dir)).diff).toEqual(diff)

    // Finish it: the new root needs root3 and root4 and the old root key (still in keys/); targets needs its key back.
    await ok('sign', '--dir', dir, '--key', file('root3.key'), file('root4.key'), file(targetsKeyFile))
    expect((await ok('drafts', '--dir', dir)).drafts).toEqual([])
  })

  it('a delegation changed (threshold, keys, paths) and one added, and a delegated role created, each named', async () => {
    await ok('keygen', '--out', file('dave.key'))
    const bob2 = (await ok('keygen', '--out', file('bob2.key'))).keyid as string
    await ok('delegate', '--dir', dir, 'bob', '--key', file('bob.key.pub'), file('bob2.key.pub'), '--threshold', '2', '--paths', 'bob/*', 'robert/*')
    await ok('delegate', '--dir', dir, 'dave', '--key', file('dave.key.pub'), '--threshold', '1', '--hash-prefixes', 'ab')
    const targetsKeyFile = (await readdir(work)).find((f) => f.startsWith('targets-'))!
    const d = await ok('publish', '--dir', dir, '--key', file(targetsKeyFile))
    expect(d.draft).toMatch(/^draft-/)
    const diff = (await ok('draft', 'show', '--dir', dir)).diff as DraftDiff
    const targets = diff.objects.find((o) => o.role === 'targets')!
    expect(targets.delegations!.changed).toEqual([{
      name: 'bob',
      threshold: { before: 1, after: 2 },
      keys: { added: [bob2], removed: [] },
      paths: { before: ['bob/*'], after: ['bob/*', 'robert/*'] }
    }])
    expect(targets.delegations!.added.map((v) => [v.name, v.threshold, v.pathHashPrefixes])).toEqual([['dave', 1, ['ab']]])
    expect(targets.targets!.counts).toEqual({ added: 0, removed: 0, changed: 0 })
    const dave = diff.objects.find((o) => o.role === 'dave')!
    expect(dave.created).toBe(true)
    expect(dave.expires.before).toBeNull()
    const { lines } = await text('draft', 'show', '--dir', dir)
    expect(lines.some((l) => l.startsWith('  delegation bob: threshold 1 -> 2, keys +') && l.endsWith('paths bob/* -> bob/* robert/*'))).toBe(true)
    expect(lines.some((l) => l.startsWith('  delegates to dave: 1 of 1 key(s) (') && l.endsWith('hash prefixes ab'))).toBe(true)
    expect(lines.some((l) => l.startsWith('dave: created; expires '))).toBe(true)
    await ok('sign', '--dir', dir, '--key', file('bob.key'), file('bob2.key'), file('dave.key'))
    expect((await ok('drafts', '--dir', dir)).drafts).toEqual([])
  })

  it('a re-signed root that changes nothing else says so; more than LIST_MAX targets are counted, the first listed', async () => {
    const d = await ok('publish', '--dir', dir, '--refresh', 'root')
    expect(d.draft).toMatch(/^draft-/)
    let diff = (await ok('draft', 'show', '--dir', dir)).diff as DraftDiff
    expect(diff.objects.map((o) => [o.role, o.resignedOnly])).toEqual([['root', true]])
    expect((await text('draft', 'show', '--dir', dir)).lines.some((l) => /^root: re-signed, nothing else changes(; expires .*)?$/.test(l))).toBe(true)
    await ok('sign', '--dir', dir, '--key', file('root3.key'), file('root4.key'))

    const many = file('many')
    await mkdir(many)
    for (let i = 0; i < LIST_MAX + 5; i++) await writeFile(join(many, `f${String(i).padStart(3, '0')}`), `file ${i}`)
    await ok('add', '--dir', dir, many)
    // The targets key is offline (first test): a draft.
    const r = await cli('publish', '--dir', dir)
    expect(r.json.draft).toMatch(/^draft-/)
    diff = (await ok('draft', 'show', '--dir', dir)).diff as DraftDiff
    const t = diff.objects.find((o) => o.role === 'targets')!.targets!
    expect(t.counts.added).toBe(LIST_MAX + 5)
    expect(t.added).toHaveLength(LIST_MAX)
    expect(t.truncated).toBe(true)
    expect((await text('draft', 'show', '--dir', dir)).lines).toContain(`  ... in all: ${LIST_MAX + 5} added, 0 removed, 0 changed (--json lists the first ${LIST_MAX} of each)`)
  })
})
