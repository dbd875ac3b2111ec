/**
 * Loopback helpers shared by the tests and the benchmarks: a free port, and
 * a real redis-server (Debian package `redis-server`), started on
 * 127.0.0.1 on a free port with its data in a temporary folder and the
 * durable settings the Redis backend asks for (appendonly yes, appendfsync
 * always), stopped afterwards. `redisUnavailable` says why tests must skip.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Why the Redis tests cannot run here, or undefined when they can. */
export const redisUnavailable: string | undefined = (() => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'redis-server is not installed (apt-get install redis-server)'
  }
})()

export interface TestRedis {
  readonly url: string
  readonly port: number
  stop: () => Promise<void>
}

/** A port free on 127.0.0.1 now (the OS's choice; closed again before it is returned). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => { resolve(typeof a === 'object' && a !== null ? a.port : 0) })
    })
  })
}

async function answersPing (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => { c.destroy(); resolve(ok) }
    c.setTimeout(500, () => { done(false) })
    c.once('error', () => { done(false) })
    c.once('connect', () => { c.write('PING\r\n') })
    c.once('data', (d) => { done(d.toString().startsWith('+PONG')) })
  })
}

/** Start a redis-server; waits (at most 10 s) until it answers PING. */
export async function startRedis (): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'dagtuf-redis-'))
  const port = await freePort()
  const child: ChildProcess = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'yes', '--loglevel', 'warning'
  ], { stdio: 'ignore' })
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    await rm(dir, { recursive: true, force: true })
  }
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break
    if (await answersPing(port)) return { url: `redis://127.0.0.1:${port}`, port, stop }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await stop()
  throw new Error(`redis-server did not start on 127.0.0.1:${port}`)
}
