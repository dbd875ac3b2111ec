/** The Promise.withResolvers shim the library installs before it loads Helia or libp2p (issue 14 item 2). */
import { afterEach, describe, expect, it } from 'vitest'
import { installPromiseWithResolvers } from '../../src/util/promise-with-resolvers.js'

type WithResolvers = <T>() => { promise: Promise<T>, resolve: (v: T) => void, reject: (e?: unknown) => void }
const P = Promise as unknown as { withResolvers?: WithResolvers }
const original = Object.getOwnPropertyDescriptor(Promise, 'withResolvers')

afterEach(() => {
  if (original !== undefined) Object.defineProperty(Promise, 'withResolvers', original)
  else delete P.withResolvers
})

describe('installPromiseWithResolvers', () => {
  it('defines a working Promise.withResolvers where it is missing', async () => {
    delete P.withResolvers
    installPromiseWithResolvers()
    expect(typeof P.withResolvers).toBe('function')
    expect(Object.keys(Promise)).not.toContain('withResolvers')
    const a = P.withResolvers!<number>()
    a.resolve(7)
    expect(await a.promise).toBe(7)
    const b = P.withResolvers!<number>()
    b.reject(new Error('no'))
    await expect(b.promise).rejects.toThrow('no')
  })

  it('leaves an existing Promise.withResolvers alone, and installing twice changes nothing', () => {
    const mine: WithResolvers = () => { throw new Error('mine') }
    P.withResolvers = mine
    installPromiseWithResolvers()
    expect(P.withResolvers).toBe(mine)
    delete P.withResolvers
    installPromiseWithResolvers()
    const first = P.withResolvers
    installPromiseWithResolvers()
    expect(P.withResolvers).toBe(first)
  })
})
