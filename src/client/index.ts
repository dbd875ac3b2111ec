/**
 * The client, as the package publishes it (`dagtuf/client`): the Updater
 * library API (NOTES section 7) and the IPNS record check it uses. The
 * trusted-state machine, the state file and the block cache are internal:
 * the Updater is the one way to drive them.
 */
// Global types the published declarations need (PromiseWithResolvers on a consumer's ES2022 lib).
export type {} from '../util/compat-types.js'
export {
  Updater,
  type HeadSource, type IpnsHeadOptions, type UpdaterOptions, type RefreshOptions, type RefreshResult, type TargetResult, type DownloadResult
} from './updater.js'
export type { LimitOverrides, Continuity, Floors } from './trusted-state.js'
// Types that the names above use, exported so that the API documentation (npm run docs) names them.
export type { StateRecord, TrustedSnapshot } from './statefile.js'
export { verifyIpnsRecord, type VerifiedIpnsRecord } from './ipns.js'
// The events of `Updater.create({ onEvent })` (issue 17), and the spans' names.
export {
  EVENT_VERSION, EVENT_LIMITS,
  type UpdaterEvent, type UpdaterEventListener, type UpdaterOperation, type InitEvent, type UpdateAcceptedEvent, type DownloadEvent,
  type RefusedEvent, type FailedEvent, type Capped, type SourceUse
} from './events.js'
export { SPAN } from './tracing.js'
// Node only: keep the process's heap small during long catch-ups (issue 9); the CLI's client commands call it.
export { frugalHeap, FRUGAL_HEAP_FLAGS, CLIENT_HEAP_FLAGS } from './heap.js'
