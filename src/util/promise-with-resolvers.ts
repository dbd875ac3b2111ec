/**
 * `Promise.withResolvers` for Node 20 (it arrived in Node 22). Helia and
 * libp2p call it (mortice, it-queue, @libp2p/utils); without it an embedded
 * node fails, at the latest when it closes (issue 14 item 2). The library
 * installs it itself, right before it loads Helia or libp2p
 * (src/blocks/helia-runtime.ts), so `import { openRepoNode } from
 * 'dagtuf/blocks'` works without importing 'dagtuf/polyfill' first.
 *
 * It only fills the gap: when the runtime has its own `Promise.withResolvers`
 * nothing is changed. The shim behaves as the standard method does (a fresh
 * promise of `this` constructor, with its resolve and reject).
 */
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseCtor = new <T>(executor: (resolve: (value: T | PromiseLike<T>) => void, reject: (reason?: unknown) => void) => void) => Promise<T>

/** Define `Promise.withResolvers` when the runtime lacks it; idempotent. */
export function installPromiseWithResolvers (): void {
  const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
  if (typeof P.withResolvers === 'function') return
  Object.defineProperty(Promise, 'withResolvers', {
    value: function withResolvers<T> (this: PromiseCtor | undefined): Resolvers<T> {
      const C: PromiseCtor = typeof this === 'function' ? this : Promise
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new C<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    },
    writable: true,
    enumerable: false,
    configurable: true
  })
}
