/** The shared file-system primitives: atomic replacement, capped reads, fsync of files and directories. */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fsyncDir, fsyncFile, isCode, isProcessAlive, readFileCapped, writeFileAtomic } from '../../src/util/durable-fs.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dagtuf-fsio-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

class Wrapped extends Error {
  constructor (readonly what: string, override readonly cause?: unknown) { super(what) }
}
const errors = {
  refused: (reason: 'not-a-file' | 'too-large') => new Wrapped(reason),
  io: (what: 'open' | 'read', cause: unknown) => new Wrapped(what, cause)
}

describe('writeFileAtomic', () => {
  it('replaces the file whole, leaves no temporary file, and accepts text', async () => {
    const path = join(dir, 'state.json')
    await writeFileAtomic(path, new TextEncoder().encode('old'))
    await writeFileAtomic(path, 'new')
    expect(await readFile(path, 'utf8')).toBe('new')
    expect(await readdir(dir)).toEqual(['state.json'])
  })

  it('calls beforeSync once the temporary file holds every byte and before the target changes', async () => {
    const path = join(dir, 'f')
    await writeFile(path, 'old')
    const seen: string[] = []
    await writeFileAtomic(path, 'new bytes', {
      beforeSync: async () => {
        const names = await readdir(dir)
        const tmp = names.find((n) => n.startsWith('.f.') && n.endsWith('.tmp'))
        expect(tmp).toBeDefined()
        seen.push(await readFile(join(dir, tmp!), 'utf8'), await readFile(path, 'utf8'))
      }
    })
    expect(seen).toEqual(['new bytes', 'old'])
    expect(await readFile(path, 'utf8')).toBe('new bytes')
  })

  it('throws what onError builds, and removes its temporary file', async () => {
    // The target is a non-empty directory: the rename fails after the temporary file was written.
    const path = join(dir, 'busy')
    await mkdir(path)
    await writeFile(join(path, 'x'), 'x')
    const e = await writeFileAtomic(path, 'bytes', { onError: (cause) => new Wrapped('write', cause) }).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(Wrapped)
    expect((e as Wrapped).cause).toMatchObject({ syscall: 'rename' })
    expect(await readdir(dir)).toEqual(['busy'])
    // Without onError, the file system's own error.
    const raw = await writeFileAtomic(join(dir, 'missing', 'f'), 'bytes').catch((err: unknown) => err)
    expect(isCode(raw, 'ENOENT')).toBe(true)
  })

  it('creates a new file with the mode asked for', async () => {
    const path = join(dir, 'private')
    await writeFileAtomic(path, 'secret', { mode: 0o600 })
    const { stat } = await import('node:fs/promises')
    expect((await stat(path)).mode & 0o777).toBe(0o600 & ~process.umask())
  })
})

describe('readFileCapped', () => {
  it('reads a file, gives undefined for a missing one, and refuses directories and oversized files', async () => {
    await writeFile(join(dir, 'f'), '0123456789')
    expect(new TextDecoder().decode(await readFileCapped(join(dir, 'f'), 10, errors))).toBe('0123456789')
    expect(await readFileCapped(join(dir, 'none'), 10, errors)).toBeUndefined()
    await expect(readFileCapped(join(dir, 'f'), 9, errors)).rejects.toMatchObject({ what: 'too-large' })
    await mkdir(join(dir, 'd'))
    await expect(readFileCapped(join(dir, 'd'), 10, errors)).rejects.toMatchObject({ what: 'not-a-file' })
    await expect(readFileCapped(join(dir, 'f', 'below-a-file'), 10, errors)).rejects.toMatchObject({ what: 'open' })
  })
})

describe('fsync', () => {
  it('fsyncFile syncs an existing file and fails on a missing one; fsyncDir syncs a directory', async () => {
    await writeFile(join(dir, 'f'), 'x')
    await fsyncFile(join(dir, 'f'))
    await fsyncDir(dir)
    const e = await fsyncFile(join(dir, 'gone')).catch((err: unknown) => err)
    expect(isCode(e, 'ENOENT')).toBe(true)
    expect(isCode(await fsyncDir(join(dir, 'gone')).catch((err: unknown) => err), 'ENOENT')).toBe(true)
  })
})

it('isProcessAlive: this process is, a pid far past the limit is not', () => {
  expect(isProcessAlive(process.pid)).toBe(true)
  expect(isProcessAlive(2 ** 30)).toBe(false)
})
