/** VALID (spatial consistency), the loader, and the delegation search. Pure over a loader. */
export { sourceLoader, type Loader, type LoaderOptions, type LoaderSource, type LoaderStats, type SourceLoader } from './loader.js'
export {
  validateTimestamp, validateSnapshot, assertValidTimestamp, assertValidSnapshot, meetsThreshold, rootViolations,
  type Dag, type LimitOverrides, type ValidReport, type ValidateOptions, type Violation
} from './valid.js'
export { globMatch, roleMatchesPath, pathHash, findTarget, type FindOptions, type Found } from './delegation.js'
