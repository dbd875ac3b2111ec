import { describe, expect, it } from 'vitest'
import { Updater, type UpdaterOptions } from '../../src/client/updater.js'

async function codeOf (options: unknown): Promise<string | undefined> {
  return await Updater.create(options as UpdaterOptions).then(() => undefined, (e: { code?: string }) => e.code)
}

describe('Updater options', () => {
  it('the reference time is set only through unsafeReferenceTime; the old name `now` is refused, not ignored', async () => {
    expect(await codeOf({ dir: '/nonexistent/dagtuf-client', now: new Date() })).toBe('ERR_ARGUMENT')
    expect(await codeOf({ dir: '/nonexistent/dagtuf-client', unsafeReferenceTime: new Date(Number.NaN) })).toBe('ERR_ARGUMENT')
  })

  it('onEvent must be a function and sourceLabel a string (checked before the folder is touched)', async () => {
    expect(await codeOf({ dir: '/nonexistent/dagtuf-client', onEvent: 'log.ndjson' })).toBe('ERR_ARGUMENT')
    expect(await codeOf({ dir: '/nonexistent/dagtuf-client', onEvent: () => {}, sourceLabel: 42 })).toBe('ERR_ARGUMENT')
  })
})
