/**
 * The built CLI for tests that run it in child processes: `ensureBuilt()`
 * runs `tsc -p tsconfig.build.json` unless dist/ is already newer than every
 * source file, serialized by a lock directory so parallel test files do not
 * rebuild at once.
 */
import { execFile } from 'node:child_process'
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin', 'dagtuf.js')

async function newest (dir: string): Promise<number> {
  let t = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) t = Math.max(t, await newest(p))
    else if (e.name.endsWith('.ts')) t = Math.max(t, (await stat(p)).mtimeMs)
  }
  return t
}

async function upToDate (): Promise<boolean> {
  const built = await stat(join(ROOT, 'dist', 'src', 'cli', 'main.js')).then((s) => s.mtimeMs, () => 0)
  return built > Math.max(await newest(join(ROOT, 'src')), await newest(join(ROOT, 'bench')))
}

export async function ensureBuilt (): Promise<void> {
  const lock = join(ROOT, 'dist', '.build-lock')
  await mkdir(join(ROOT, 'dist'), { recursive: true })
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      await mkdir(lock)
      break
    } catch {
      // Another test file is building; a lock older than 3 minutes is stale.
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0)
      if (age > 180_000) await rmdir(lock).catch(() => {})
      if (Date.now() > deadline) throw new Error('timed out waiting for the build lock')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  try {
    // tsc emits even when files outside the build have type errors.
    if (!await upToDate()) await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => {})
    await stat(join(ROOT, 'dist', 'src', 'client', 'updater.js'))
  } finally {
    await rmdir(lock).catch(() => {})
  }
}
