// The test page's script (plain JS, run by Chromium): drives the browser
// bundle and answers the test with plain objects. Served as /page.js by
// test/browser/harness.ts; the bundle is /dagtuf.js on the same origin.
import * as dagtuf from '/dagtuf.js'

const { Updater, IdbClientStore, GatewaySource, fetchHead } = dagtuf

function errorOf (e) {
  return { name: e?.name ?? null, code: e?.code ?? null, message: String(e?.message ?? e), cid: e?.details?.cid ?? null, dagtuf: dagtuf.isDagtufError(e) }
}

async function hex (bytes) {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** The state entry as the database holds it (text), or null. */
async function rawState (name) {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('dagtuf-client:' + name)
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
  try {
    if (!db.objectStoreNames.contains('state')) return null
    const v = await new Promise((resolve, reject) => {
      const q = db.transaction('state').objectStore('state').get('state')
      q.onsuccess = () => resolve(q.result)
      q.onerror = () => reject(q.error)
    })
    return v === undefined ? null : new TextDecoder().decode(v)
  } finally {
    db.close()
  }
}

async function withClient (name, gw, opts, f) {
  // A gateway route of the page server, or an absolute URL (another origin).
  const base = /^https?:/.test(gw) ? gw : location.origin + '/gw/' + gw
  const storage = await IdbClientStore.open(name)
  const source = new GatewaySource(base, { timeoutMs: opts.timeoutMs ?? 15000, retries: 0 })
  const up = await Updater.create({ storage, source, head: async ({ signal }) => await fetchHead(base, { signal, timeoutMs: opts.timeoutMs ?? 15000, retries: 0 }) })
  try {
    return { ok: await f(up, storage) }
  } catch (e) {
    return { error: errorOf(e) }
  } finally {
    storage.close()
  }
}

window.t = {
  rawState,
  hex: async (text) => await hex(new TextEncoder().encode(text)),
  init: async (name, gw, root) => await withClient(name, gw, {}, async (up) => await up.init(root)),
  refresh: async (name, gw, ts, opts = {}) => await withClient(name, gw, opts, async (up) => {
    const r = await up.refresh(ts ?? undefined)
    return { timestamp: r.timestamp, continuity: r.continuity, fetched: r.fetched.blocks }
  }),
  fetch: async (name, gw, path, opts = {}) => await withClient(name, gw, opts, async (up) => {
    const info = await up.getTargetInfo(path)
    if (info === null) return null
    const bytes = await up.fetchTarget(info)
    return { cid: info.cid.toString(), length: bytes.byteLength, sha256: await hex(bytes), role: info.role }
  }),
  /** A refresh whose candidate comes from the IPNS name's record (the floors kept in IndexedDB). */
  ipnsRefresh: async (name, gw, ipnsName) => {
    const base = location.origin + '/gw/' + gw
    const storage = await IdbClientStore.open(name)
    try {
      const up = await Updater.create({ storage, source: new GatewaySource(base, { timeoutMs: 15000, retries: 0 }), ipns: { name: ipnsName } })
      const r = await up.refresh()
      return { ok: { timestamp: r.timestamp.toString(), ipns: r.ipns ?? null } }
    } catch (e) {
      return { error: { ...errorOf(e), details: e?.details ?? null } }
    } finally {
      storage.close()
    }
  },
  info: async (name, gw, path) => await withClient(name, gw, {}, async (up) => {
    const info = await up.getTargetInfo(path)
    return info === null ? null : { cid: info.cid.toString(), length: info.length }
  }),
  state: async (name) => await withClient(name, 'serve', {}, async (up) => {
    const s = await up.state()
    return { root: s.root.toString(), timestamp: s.trusted?.timestamp.toString() ?? null }
  }),
  /** The signature path chosen when the bundle loaded, and the verdict counters. */
  signatures: () => ({ path: dagtuf.signaturePath, ...dagtuf.verdictStats }),
  /** WebCrypto off (noble alone) or on again. */
  webCrypto: async (on) => {
    dagtuf.useAsyncVerifier(on ? await dagtuf.webCryptoVerifier() : undefined)
    return on
  },
  /** Two stores on one database: the second lock is refused while the first is held (Web Locks). */
  lockTwice: async (name) => {
    const a = await IdbClientStore.open(name)
    const b = await IdbClientStore.open(name)
    try {
      const release = await a.lock()
      let second
      try { await b.lock(); second = 'granted' } catch (e) { second = errorOf(e).code }
      await release()
      const again = await b.lock()
      await again()
      return { webLocks: typeof navigator.locks?.request === 'function', second, afterRelease: 'granted' }
    } finally {
      a.close()
      b.close()
    }
  }
}
window.dagtufReady = true
