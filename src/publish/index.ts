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
 */
export {
  initRepo, openSession, publishStaged, tryFinalizeDraft, readDraft, listDrafts, draftNeeds, loadCurrent,
  type InitOptions, type InitResult, type Session, type SessionOptions, type PublishResult, type Current, type Requirement
} from './engine.js'
export {
  addFiles, removePaths, delegate, undelegate, rotate, refresh, checkKeyFor, publicKeysFrom,
  type AddOptions, type Added, type DelegateOptions, type RotateOptions, type Progress
} from './stage.js'
export type { Draft, DraftObject } from './drafts.js'
export { exportCar, type ExportOptions, type ExportResult } from './export.js'
export { publishHeadIpns, readRepoIpns, type IpnsResult, type RepoIpns } from './ipns.js'
export {
  readKeyFile, signerFromKeyFile, writePrivateKeyFile, writePublicKeyFile, readPassphrase,
  type KeyFileInfo
} from './keyfile.js'
export { DEFAULT_REPO_DIR } from './repo.js'
