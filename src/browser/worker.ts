/**
 * An update off the page's main thread: `serveUpdates(scope)` runs in a
 * (module) Web Worker and answers `UpdateRequest` messages by doing what a
 * page would do itself (open the IndexedDB state, trust a root, refresh
 * through a gateway, with a /head or an IPNS head) and posting back an
 * `UpdateReply`. Fetching, hashing, decoding and verifying then happen in
 * the worker; the page only reads what was stored (the inspector at /ui/
 * uses it).
 *
 * Guarantees: it is the same Updater, rules and bounds; the trusted state is
 * written by the Updater only when every check passed (the page reads it
 * afterwards); a refusal comes back as `{ error }` with the error's name,
 * code (the rule ID for a ValidationError), message and details (values
 * that are not plain become strings), never as a lost message.
 */
import { fetchHead, GatewaySource } from '../blocks/gateway-source.js'
import { IdbClientStore } from '../client/idb-store.js'
import { Updater } from '../client/updater.js'
import { UsageError } from '../model/errors.js'

export interface UpdateRequest {
  readonly id: number
  /** The IndexedDB client name. */
  readonly name: string
  readonly gateway: string
  /** A root CID to trust first (init), or null to refresh only. */
  readonly root: string | null
  /** An IPNS name: the head from its record instead of the gateway's /head. */
  readonly ipns?: string
  readonly timeoutMs?: number
}

export type UpdateReply =
  | { readonly id: number, readonly ok: { readonly timestamp: string } }
  | { readonly id: number, readonly error: { readonly name: string, readonly code: string | null, readonly message: string, readonly details: Record<string, unknown> } }

interface Scope {
  addEventListener: (type: 'message', f: (ev: { data: unknown }) => void) => void
  postMessage: (m: UpdateReply) => void
}

function plain (details: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (typeof details !== 'object' || details === null) return out
  for (const [k, v] of Object.entries(details)) {
    out[k] = v === null || ['string', 'number', 'boolean'].includes(typeof v) ? v : String(v)
  }
  return out
}

/** Run one request (also usable without a worker). */
export async function runUpdate (r: UpdateRequest): Promise<UpdateReply> {
  const id = typeof r?.id === 'number' ? r.id : -1
  let storage: IdbClientStore | undefined
  try {
    if (typeof r !== 'object' || r === null || typeof r.name !== 'string' || typeof r.gateway !== 'string') throw new UsageError('ERR_ARGUMENT', 'an update request needs a name and a gateway')
    storage = await IdbClientStore.open(r.name)
    const source = new GatewaySource(r.gateway, { timeoutMs: r.timeoutMs ?? 30_000 })
    const gateway = r.gateway
    const updater = typeof r.ipns === 'string' && r.ipns !== ''
      ? await Updater.create({ storage, source, ipns: { name: r.ipns } })
      : await Updater.create({
        storage,
        source,
        head: async ({ signal }) => {
          const c = await fetchHead(gateway, signal === undefined ? {} : { signal })
          if (c === null) throw new UsageError('ERR_USAGE', 'the gateway has no /head: give a timestamp')
          return c
        }
      })
    if (typeof r.root === 'string') await updater.init(r.root)
    const res = await updater.refresh()
    return { id, ok: { timestamp: res.timestamp.toString() } }
  } catch (e) {
    const err = e as { name?: unknown, code?: unknown, message?: unknown, details?: unknown }
    return { id, error: { name: typeof err?.name === 'string' ? err.name : 'Error', code: typeof err?.code === 'string' ? err.code : null, message: String(err?.message ?? e), details: plain(err?.details) } }
  } finally {
    storage?.close()
  }
}

/** Answer update requests posted to this worker scope, one after another. */
export function serveUpdates (scope: Scope): void {
  let queue: Promise<unknown> = Promise.resolve()
  scope.addEventListener('message', (ev) => {
    queue = queue.then(async () => { scope.postMessage(await runUpdate(ev.data as UpdateRequest)) })
  })
}
