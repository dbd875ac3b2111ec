/** A real redis-server for tests: bench/loopback.ts (shared with the benchmarks). */
export { redisUnavailable, startRedis, type TestRedis } from '../../bench/loopback.js'
