/**
 * Sharded maps: canonical HAMTs of unsigned dag-cbor nodes under a signed
 * object (spec/NOTES.md §11, rules SHARD-*).
 */
export { BITS, BUCKET, CODEC_DAG_CBOR, MAX_KEY_BYTES, MAX_LEVEL, MAX_NODE_BYTES, SLOTS, checkPlacement, decodeNode, encodeNode, hashKey, isShardLink, shardCid, slotAt } from './node.js'
export type { Element, Entry, ShardBlock, ShardNode, ValueCodec } from './node.js'
export { buildMap, emptyMap, updateMap } from './build.js'
export type { BlockSink, BuildResult, Changes } from './build.js'
export { ShardBudget, ShardReader, asShardRoot } from './read.js'
export type { Change, ShardReaderOptions, ShardSource } from './read.js'
export { buildRolesMap, buildTargetsMap, roleLinkCodec, targetsCodec } from './codecs.js'
