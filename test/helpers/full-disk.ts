/**
 * A full disk for in-process tests: the factory of a `vi.mock('node:fs/promises')`
 * in which writes through handles opened on chosen paths fail with ENOSPC (or
 * EDQUOT), as write(2) does on a full disk; the file itself is created (the
 * inode fits, the data does not). Shared by test/cli/faults.test.ts and
 * test/publish/audit-faults.test.ts. This module must not import
 * node:fs/promises itself (it is what the mock replaces).
 *
 *   const fault = vi.hoisted(() => ({ when: null as FullDisk['when'], code: 'ENOSPC', hits: 0 }))
 *   vi.mock('node:fs/promises', async (orig) => (await import('../helpers/full-disk.js')).fullDiskFs(await orig(), fault))
 */
export interface FullDisk {
  /** Which opened paths get a full disk (null: none). */
  when: null | ((path: string) => boolean)
  /** The error code the writes fail with. */
  code: string
  /** Handles that got it. */
  hits: number
}

type Fs = typeof import('node:fs/promises')

export function fullDiskFs (real: Fs, fault: FullDisk): Fs {
  const full = (): Error => Object.assign(new Error(`${fault.code}: no space left on device, write`), { code: fault.code, syscall: 'write' })
  const open = async (...args: Parameters<Fs['open']>): ReturnType<Fs['open']> => {
    const h = await real.open(...args)
    if (fault.when === null || !fault.when(String(args[0]))) return h
    fault.hits++
    return new Proxy(h, {
      get (target, key) {
        if (key === 'write' || key === 'writeFile' || key === 'appendFile') return async () => { throw full() }
        const v = Reflect.get(target, key, target) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      }
    })
  }
  return { ...real, open, default: { ...real, open } } as Fs
}
