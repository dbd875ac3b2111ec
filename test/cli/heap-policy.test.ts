/**
 * src/cli/heap-policy.ts: a client command asks V8 for the frugal heap
 * unless it certainly walks no snapshot chain (`client init`, or a client
 * folder whose state trusts no snapshot yet); when unsure, it asks.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientWantsFrugalHeap } from '../../src/cli/heap-policy.js'

let work: string
let first: string
let later: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dagtuf-heap-policy-'))
  first = join(work, 'first')
  later = join(work, 'later')
  await mkdir(first)
  await mkdir(later)
  await writeFile(join(first, 'state.json'), JSON.stringify({ format: 'dagtuf-client-state/2', root: 'x', trusted: null, written: '2026-11-30T00:00:00Z' }))
  await writeFile(join(later, 'state.json'), JSON.stringify({ format: 'dagtuf-client-state/2', root: 'x', trusted: { timestamp: 'y' }, written: '2026-11-30T00:00:00Z' }))
})
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

describe('cli: the client\'s heap policy', () => {
  it('a first update (the state trusts no snapshot) and client init walk no snapshot chain: no frugal heap', () => {
    expect(clientWantsFrugalHeap(['client', 'get', '--dir', first, '--update', 'p', '-o', 'f'])).toBe(false)
    expect(clientWantsFrugalHeap(['--json', 'client', 'update', `--dir=${first}`])).toBe(false)
    expect(clientWantsFrugalHeap(['client', 'init', '--dir', join(work, 'new'), '--root', 'x'])).toBe(false)
  })

  it('a state that trusts a snapshot may catch up: frugal heap', () => {
    expect(clientWantsFrugalHeap(['client', 'update', '--dir', later])).toBe(true)
    expect(clientWantsFrugalHeap(['client', 'get', '--dir', later, 'p', '-o', 'f'])).toBe(true)
  })

  it('when unsure, frugal: no --dir, two --dir, a missing, unreadable, non-JSON or odd state file', async () => {
    expect(clientWantsFrugalHeap(['client', 'update'])).toBe(true)
    expect(clientWantsFrugalHeap(['client', 'update', '--dir', first, '--dir', later])).toBe(true)
    expect(clientWantsFrugalHeap(['client', 'update', '--dir', join(work, 'missing')])).toBe(true)
    expect(clientWantsFrugalHeap(['client', 'update', '--dir='])).toBe(true)
    const odd = join(work, 'odd')
    await mkdir(odd)
    for (const text of ['not json', 'null', '[]', '{"trusted": false}', '{}']) {
      await writeFile(join(odd, 'state.json'), text)
      expect(clientWantsFrugalHeap(['client', 'update', '--dir', odd])).toBe(true)
    }
    await writeFile(join(odd, 'state.json'), `{"trusted": null, "pad": "${'x'.repeat(1 << 20)}"}`)
    expect(clientWantsFrugalHeap(['client', 'update', '--dir', odd])).toBe(true)
    // A folder named state.json cannot be read as a file.
    const dirAsFile = join(work, 'dir-as-file')
    await mkdir(join(dirAsFile, 'state.json'), { recursive: true })
    expect(clientWantsFrugalHeap(['client', 'update', '--dir', dirAsFile])).toBe(true)
  })

  it('an argument after -- is not an option; other commands are not the client\'s', () => {
    expect(clientWantsFrugalHeap(['client', 'get', '--', '--dir', first])).toBe(true)
    expect(clientWantsFrugalHeap(['serve', '--dir', first])).toBe(false)
    expect(clientWantsFrugalHeap([])).toBe(false)
  })
})
