/**
 * Global types that the published declarations need on every consumer's
 * `lib`. Helia's dependencies (it-queue) name `PromiseWithResolvers`, which
 * TypeScript's lib has only from ES2024 on; a consumer on Node 20 with
 * `lib: ES2022` and `skipLibCheck: false` failed on it (issue 14). The
 * declaration is the same as lib.es2024.promise.d.ts's, so it merges with
 * that one where the consumer has it. test/readme-library.test.ts compiles
 * a consumer of every entry point with skipLibCheck false.
 *
 * Every entry point re-exports it as `export type {} from`, which names no
 * value and is kept in the emitted declarations (an `import type {}` is not).
 */
declare global {
  interface PromiseWithResolvers<T> {
    promise: Promise<T>
    resolve: (value: T | PromiseLike<T>) => void
    reject: (reason?: any) => void
  }
}

export {}
