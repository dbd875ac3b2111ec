/** The client: trusted state, its folder, and the Updater library API (NOTES section 7). */
export { Updater, toCid, type HeadSource, type IpnsHeadOptions, type UpdaterOptions, type RefreshResult, type TargetResult, type DownloadResult } from './updater.js'
export { TrustedState, referenceTimeOf, isFresh, sameKeySet, edgesOf, changedRoles, type Accepted, type Continuity, type Floors, type LimitOverrides, type TrustedDag, type TrustedStateOptions } from './trusted-state.js'
export { ClientStore, BlockCache } from './store.js'
export { parseState, serializeState, type StateRecord, type TrustedSnapshot } from './statefile.js'
export { clientLoader, type ClientLoader } from './loader.js'
export { verifyIpnsRecord, checkIpnsReplay, readIpnsFloors, type VerifiedIpnsRecord, type IpnsFloor } from './ipns.js'
