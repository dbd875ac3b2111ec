/**
 * The browser entry point, `dagtuf/browser` (built by scripts/build-browser.mjs
 * into dist/browser/dagtuf.js, one minified ESM file with no Node built-in).
 *
 *   import { Updater, IdbClientStore, GatewaySource } from 'dagtuf/browser'
 *   const source = new GatewaySource('https://gateway.example')
 *   const updater = await Updater.create({ storage: await IdbClientStore.open('my-app'), source })
 *   await updater.init(rootCid)          // once, out of band
 *   await updater.refresh(timestampCid)  // or refresh() with a head source
 *   const info = await updater.getTargetInfo('app.js')
 *   const bytes = info === null ? null : await updater.fetchTarget(info)
 *
 * It is the same client as on Node: the same Updater, rules, bounds and
 * typed errors. What differs is underneath: the trusted state and block
 * cache live in IndexedDB (IdbClientStore), blocks come over the platform's
 * fetch, hashes and signatures use @noble/* (with WebCrypto's Ed25519 where
 * the browser has it: src/browser/webcrypto.ts), and targets come back as
 * checked bytes (`fetchTarget`) instead of files.
 */
export { Updater, toCid } from '../client/updater.js'
export type { HeadSource, UpdaterOptions, RefreshResult, TargetResult, DownloadResult } from '../client/updater.js'
export { IdbClientStore, type IdbOpenOptions, type LockManagerLike } from '../client/idb-store.js'
export type { ClientStorage, ClientBlockCache } from '../client/storage.js'
export { GatewaySource, fetchHead } from '../blocks/gateway-source.js'
export type { GatewayOptions, FetchHeadOptions } from '../blocks/gateway-source.js'
export { BlockError, DagtufError, StateError, UsageError, ValidationError, DiskFullError, isDagtufError, isVerdict } from '../model/errors.js'
export { RULE_IDS } from '../model/rules.js'
export { useAsyncVerifier, webCryptoVerifier, verdictStats, type AsyncVerifier } from '../model/keys.js'

import { useAsyncVerifier, webCryptoVerifier } from '../model/keys.js'

/**
 * How this page verifies signatures: 'webcrypto' when the browser's
 * crypto.subtle has Ed25519 (verdicts obtained ahead, as envelopes are
 * loaded, with @noble/ed25519 for any signature not verified ahead), else
 * 'noble' (@noble/ed25519 alone). Chosen once when the module loads;
 * `useAsyncVerifier(undefined)` switches WebCrypto off.
 */
export const signaturePath: 'webcrypto' | 'noble' = await (async () => {
  const v = await webCryptoVerifier()
  useAsyncVerifier(v)
  return v === undefined ? 'noble' : 'webcrypto'
})()

export { inspectTrusted, historyOfTrusted, TargetPager, type TrustedHistory, type TrustedHistoryOptions, type Inspection, type RoleView, type TargetPage, type TargetRow } from './inspect.js'
export { buildHistory, toSvg, toDot, type History, type HistoryNode, type HistoryEdge, type Lane } from '../history/index.js'
export { serveUpdates, runUpdate, type UpdateRequest, type UpdateReply } from './worker.js'
