/**
 * Runtime shims that must load before any Helia/libp2p import, for programs
 * that load Helia or libp2p themselves.
 *
 * Helia 7 calls `Promise.withResolvers`, which Node 20 lacks (it arrived in
 * Node 22). dagtuf's own modules install it before they load Helia or libp2p
 * (src/blocks/helia-runtime.ts), so importing this module first is no longer
 * needed to use dagtuf; the entry points (bin/dagtuf.js, vitest setupFiles,
 * benches) still import it, and `dagtuf/polyfill` stays for programs that use
 * Helia or libp2p next to dagtuf.
 */
// Global types the published declarations need (PromiseWithResolvers on a consumer's ES2022 lib).
export type {} from './util/compat-types.js'
import { installPromiseWithResolvers } from './util/promise-with-resolvers.js'

installPromiseWithResolvers()

export {}
