/**
 * The dagtuf library (`dagtuf`). The data model and the errors are exported
 * flat; each layer above it is a namespace (they share a few names, such as
 * LimitOverrides), with the Updater also exported directly for the common
 * client case, and GatewaySource (also `blocks.GatewaySource`), the source a
 * client most often reads from:
 *
 *   import { Updater, GatewaySource } from 'dagtuf'
 *   const source = new GatewaySource('https://gateway.example')
 *   const updater = await Updater.create({ dir: 'client', source })
 *
 * The layers are also entry points of their own: `dagtuf/client`,
 * `dagtuf/publish`, `dagtuf/blocks`. Every name is listed on purpose in the
 * front module of its layer (src/<layer>/index.ts); nothing else is public.
 *
 * Importing this module does not load Helia or libp2p; they load when a node
 * is opened.
 */
// Global types the published declarations need (PromiseWithResolvers on a consumer's ES2022 lib).
export type {} from './util/compat-types.js'
export * from './model/index.js'
export * as validate from './validate/index.js'
export * as relations from './relations/index.js'
export * as blocks from './blocks/index.js'
export * as client from './client/index.js'
export * as publish from './publish/index.js'
export * as server from './server/index.js'
export { Updater } from './client/index.js'
export { GatewaySource, type GatewayOptions } from './blocks/index.js'
// Types that the names above use (in signatures of the model and of the
// layers' namespaces), exported so that the API documentation (npm run docs)
// names them; no value is added.
export type { SuccinctRoles } from './model/types.js'
export type { SuccinctSpec } from './model/build.js'
export type { Backend } from './model/keys.js'
export type { DiskCode, DISK_CODES } from './model/errors.js'
export type { FullDag } from './validate/valid.js'
export type { GlobBudget } from './validate/delegation.js'
export type { ShardFetch } from './validate/loader.js'
export type { ShardBlock, Entry as ShardEntry, Change as ShardChange } from './shard/index.js'
export type { ServerStats } from './server/http-server.js'
export type { PoolStats } from './server/flow.js'
