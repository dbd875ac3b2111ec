/**
 * The publisher, as the package publishes it (`dagtuf/publish`): create a
 * repository, open a session on it, stage changes (targets, delegations,
 * key rotations, re-signing), publish them or collect signatures on drafts,
 * and export the result.
 *
 *   import { initRepo, openSession, addFiles, publishStaged } from 'dagtuf/publish'
 *   const session = await openSession('repo')
 *   await addFiles(session, ['dist/app.tar.gz'])
 *   const result = await publishStaged(session)
 *
 * `publishStaged` runs the three steps of a publish; they are exported too:
 *
 *   const current = await loadCurrent(session.repo, session.node)
 *   const p = await plan(current.published, ops, { now, expiry, source: session.node })
 *   const s = await sign(p, [hsmSigner])          // envelopes, or a draft
 *   if (s.kind === 'signed') await commit(session, current, s.dag, { changes: p.changes, source: '' })
 */
// Global types the published declarations need (PromiseWithResolvers on a consumer's ES2022 lib).
export type {} from '../util/compat-types.js'
export {
  initRepo, openSession, publishStaged, tryFinalizeDraft, loadCurrent,
  type InitOptions, type InitResult, type Session, type SessionOptions, type PublishResult, type Current, type Requirement
} from './engine.js'
// The three steps of a publish, for callers that bring their own signers
// (an HSM, a remote signing session): plan, then sign, then commit.
export { plan, type Plan, type PlanOptions, type PlannedSigned, type Expiry } from './plan.js'
export { sign, signTop, signerSource, type KeySource, type Signing, type SignedDag } from './sign.js'
export { commit, commitDraft, type CommitTarget, type CommitInfo } from './commit.js'
export {
  addFiles, removePaths, delegate, undelegate, rotate, refresh, checkKeyFor, publicKeysFrom,
  type AddOptions, type Added, type DelegateOptions, type RotateOptions, type Progress, type StageSession
} from './stage.js'
export { readDraft, listDrafts, draftNeeds, type Draft, type DraftObject, type NeedReport } from './drafts.js'
export { exportCar, type ExportOptions, type ExportResult } from './export.js'
export { publishHeadIpns, readRepoIpns, type IpnsResult, type RepoIpns } from './ipns.js'
export {
  readKeyFile, signerFromKeyFile, writePrivateKeyFile, writePublicKeyFile, readPassphrase,
  type KeyFileInfo
} from './keyfile.js'
export { DEFAULT_REPO_DIR } from './repo.js'
// Types that the names above use, exported so that the API documentation (npm run docs) names them.
export type { Repo, KeyRing } from './repo.js'
export type { Change, HeadRecord, Op, RepoConfig, ExpiryRole, Staged } from './files.js'
export type { DagView, NodeBlocks, Published } from './state.js'
export type { Block } from './sign.js'
export type { EncryptedSeed } from './keyfile.js'
