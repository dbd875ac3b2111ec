/**
 * The load generator of bench/serve.ts: HTTP/1.1 keep-alive connections on
 * raw sockets, one request at a time per connection, bodies counted and
 * dropped. It runs in a worker thread of its own (`loadInWorker`), so that
 * its event loop and its garbage collector are not those of the bench's
 * other clients: the small-route probe of the mixed scenario is measured in
 * another thread than the 50 large downloads, and a late probe answer is
 * the server's lateness, not the generator's.
 *
 * Cheap on purpose (at 400 MB/s a JavaScript generator on the same 2-core
 * machine can be the limit; the first profile of this bench showed its
 * garbage collector at half of its CPU time): responses are read with
 * `onread` into one reused buffer per thread (no Buffer per chunk read, no
 * joining), and only the bytes of a response head are ever copied.
 */
import { connect } from 'node:net'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

export interface Tally {
  ok: number
  busy: number
  other: number
  timeouts: number
  errors: number
  bytes: number
  latencies: number[]
}

export function tally (): Tally {
  return { ok: 0, busy: 0, other: 0, timeouts: 0, errors: 0, bytes: 0, latencies: [] }
}

export interface LoadSpec {
  port: number
  /** Connections. */
  c: number
  /** Request targets, asked for in turn by all the connections of a thread (one cursor: a cycle through them all). */
  paths: string[]
  /** Date.now() after which no request is sent. */
  until: number
  /** A request unanswered after this long counts as a timeout; its connection is dropped. */
  timeoutMs: number
}

const CRLFCRLF = Buffer.from('\r\n\r\n')
// Shared by every connection of this thread: onread hands each read to its
// callback synchronously, which keeps no reference to it.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

/**
 * One connection that sends a request, reads the whole response, and
 * repeats until `until`. Reconnects after a close (after 1 s when the
 * server said 503).
 */
async function client (spec: LoadSpec, requests: readonly string[], cursor: { k: number }, t: Tally): Promise<void> {
  while (Date.now() < spec.until) {
    const again = await new Promise<'busy' | 'closed'>((resolve) => {
      let head: Buffer | null = null // the part of a response head read so far
      let need = -1 // body bytes still to come; -1 while reading the head
      let status = 0
      let started = 0
      let sawBusy = false
      let timer: NodeJS.Timeout | undefined
      const send = (): void => {
        if (Date.now() >= spec.until) { socket.end(); return }
        started = performance.now()
        timer = setTimeout(() => { t.timeouts++; socket.destroy() }, spec.timeoutMs)
        socket.write(requests[cursor.k++ % requests.length]!)
      }
      const done = (): void => {
        clearTimeout(timer)
        const ms = performance.now() - started
        if (status === 200) { t.ok++; t.latencies.push(ms) } else if (status === 503) { t.busy++; sawBusy = true } else t.other++
        need = -1
      }
      const onRead = (n: number, buf: Uint8Array): boolean => {
        let data = Buffer.from(buf.buffer, buf.byteOffset, n)
        while (data.length > 0) {
          if (need < 0) {
            const joined: Buffer = head === null ? data : Buffer.concat([head, data])
            const end = joined.indexOf(CRLFCRLF)
            if (end < 0) {
              // A head split across reads: the only bytes ever copied.
              head = Buffer.from(joined)
              return true
            }
            const text = joined.subarray(0, end).toString('latin1')
            status = Number(text.slice(9, 12))
            need = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? 0)
            data = joined.subarray(end + 4)
            head = null
          }
          const take = Math.min(need, data.length)
          t.bytes += take
          need -= take
          data = data.subarray(take)
          if (need > 0) return true
          done()
          if (status === 503) { socket.end(); return true }
          send()
        }
        return true
      }
      const socket = connect({ port: spec.port, host: '127.0.0.1', onread: { buffer: READ_BUFFER, callback: onRead } })
      socket.setNoDelay(true)
      socket.on('connect', send)
      socket.on('error', () => { t.errors++ })
      socket.on('close', () => { clearTimeout(timer); resolve(sawBusy ? 'busy' : 'closed') })
    })
    if (again === 'busy') await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
}

/** `spec.c` connections in this thread until `spec.until`. */
export async function runLoad (spec: LoadSpec): Promise<Tally> {
  const t = tally()
  const requests = spec.paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  const cursor = { k: 0 }
  await Promise.all(Array.from({ length: spec.c }, async () => { await client(spec, requests, cursor, t) }))
  return t
}

/** `runLoad` in a worker thread of its own. */
export async function loadInWorker (spec: LoadSpec): Promise<Tally> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { dagtufServeLoad: spec } })
  return await new Promise<Tally>((resolve, reject) => {
    worker.once('message', (t: Tally) => { resolve(t) })
    worker.once('error', reject)
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`load worker exited ${code}`)) })
  })
}

if (!isMainThread && (workerData as { dagtufServeLoad?: LoadSpec } | null)?.dagtufServeLoad !== undefined) {
  const t = await runLoad((workerData as { dagtufServeLoad: LoadSpec }).dagtufServeLoad)
  parentPort?.postMessage(t)
}
