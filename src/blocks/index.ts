/**
 * The block layer: where bytes addressed by CIDs live. Every source here
 * hash-checks every block it returns and caps sizes while reading; see
 * types.ts for the interfaces and the error codes.
 */
// Global types the published declarations need (PromiseWithResolvers on a consumer's ES2022 lib).
export type {} from '../util/compat-types.js'
export type { BlockSource, BlockStore, Closeable, GetOptions, IpnsRecordSource } from './types.js'
export { canFetchIpnsRecords } from './types.js'
export { MemoryBlockStore } from './memory.js'
export { openRepoNode } from './repo-node.js'
export { openPeerSource } from './peer-source.js'
export type { RepoNode, RepoNodeOptions, PeerSource, PeerSourceOptions, PinOptions } from './types.js'
export { addContent, readContent, readContentBytes } from './unixfs.js'
export type { ContentRef, ContentSink, AddContentOptions, ReadContentOptions, ReadContentResult } from './unixfs.js'
export { readCar, importCar, writeCar, encodeCar, CarSource } from './car.js'
export type { CarLimits, CarInput, ImportResult, WriteCarResult } from './car.js'
export { GatewaySource, fetchHead, fetchIpnsRecord } from './gateway-source.js'
export type { GatewayOptions, FetchHeadOptions, FetchIpnsRecordOptions } from './gateway-source.js'
