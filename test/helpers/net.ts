/** A free port on 127.0.0.1: bench/loopback.ts (shared with the benchmarks). */
export { freePort } from '../../bench/loopback.js'
