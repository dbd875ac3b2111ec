import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { pausePoint, slowPoint } from '../../src/util/test-hooks.js'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)])
}

describe('test hooks', () => {
  it('only src/util/test-hooks.ts reads the DAGTUF_TEST_ variables', () => {
    const readers = sourceFiles(SRC).filter((f) => readFileSync(f, 'utf8').includes('DAGTUF_TEST_')).map((f) => relative(SRC, f))
    expect(readers).toEqual(['util/test-hooks.ts'])
  })

  it('without the variables (as in this process) the hooks return at once', async () => {
    expect(process.env.DAGTUF_TEST_PAUSE_AT).toBeUndefined()
    expect(process.env.DAGTUF_TEST_SLOW_MS).toBeUndefined()
    await expect(pausePoint('after-head')).resolves.toBeUndefined()
    await expect(slowPoint()).resolves.toBeUndefined()
  })
})
