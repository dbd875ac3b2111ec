/**
 * The signing hygiene that CLIENT-FLOOR-OVERTAKE rests on (NOTES
 * PUB-SIGN-PUBLISHED), through the CLI: every object a draft asks to sign
 * names the published object of its role, a draft the head moved past is
 * reported as abandoned and can no longer be signed in the repository, and
 * the next object of the role names the published one, never the draft.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { DRAFT_HYGIENE } from '../../src/cli/commands/read.js'
import { cli, fingerprint, ok } from '../cli/publish-helpers.js'

let work: string
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'dagtuf-drafts-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

/** The previous-version of each object a draft asks to sign, by role. */
async function draftPrevious (dir: string, id: string): Promise<Record<string, string | null>> {
  const shown = await ok('draft', 'show', '--dir', dir, id)
  const out: Record<string, string | null> = {}
  for (const [role, obj] of Object.entries(shown.objects as Record<string, { signed: { 'previous-version': { '/': string } | null } }>)) {
    out[role] = obj.signed['previous-version']?.['/'] ?? null
  }
  return out
}

async function text (...args: string[]): Promise<string[]> {
  const out: string[] = []
  await main(args, { out: (l) => { out.push(l) }, err: () => {}, tty: false })
  return out
}

describe('signing hygiene', () => {
  it('PUB-SIGN-PUBLISHED: drafts continue the published objects; a stale draft is abandoned, cannot be signed, and is never continued', async () => {
    const dir = join(work, 'repo')
    await ok('init', '--dir', dir)
    const alice = join(work, 'alice.key')
    await ok('keygen', '--out', alice)
    const first = await ok('head', '--dir', dir)
    await ok('delegate', '--dir', dir, 'alice', '--key', `${alice}.pub`, '--paths', 'alice/*')
    // alice's key is not at hand: the new targets object and alice's first object wait in a draft.
    const d = await ok('publish', '--dir', dir)
    const id = d.draft as string
    expect(await draftPrevious(dir, id)).toEqual({ targets: first.targets, alice: null })

    // The head moves: the draft no longer continues the published targets.
    const f = join(work, 'file.txt')
    await writeFile(f, 'x')
    await ok('add', '--dir', dir, f)
    const p = await ok('publish', '--dir', dir)
    const head = await ok('head', '--dir', dir)
    expect(head.targets).not.toBe(first.targets)

    const listed = (await ok('drafts', '--dir', dir)).drafts as Array<Record<string, unknown>>
    expect(listed).toEqual([expect.objectContaining({ id, stale: true, abandoned: true, complete: false })])
    const lines = await text('drafts', '--dir', dir)
    expect(lines[0]).toContain('STALE: abandoned')
    expect(lines.slice(-DRAFT_HYGIENE.length)).toEqual(DRAFT_HYGIENE)
    expect(DRAFT_HYGIENE.join(' ')).toMatch(/never be published/)

    const before = await fingerprint(dir)
    expect((await cli('sign', '--dir', dir, '--draft', id, '--key', alice)).errorCode).toBe('ERR_DRAFT_STALE')
    expect(await fingerprint(dir)).toEqual(before)
    expect((await ok('head', '--dir', dir)).timestamp).toBe(p.timestamp)

    // A new draft for the same change starts from the published head, not from the abandoned one.
    await ok('delegate', '--dir', dir, 'alice', '--key', `${alice}.pub`, '--paths', 'alice/*')
    const d2 = await ok('publish', '--dir', dir)
    expect(await draftPrevious(dir, d2.draft as string)).toEqual({ targets: head.targets, alice: null })
    const r = await ok('sign', '--dir', dir, '--draft', d2.draft as string, '--key', alice)
    expect(r.finalized).toBe(true)
  })
})
