/**
 * The browser twin of node-io.ts (see there): the same exports, no file
 * system. The browser build substitutes it; the types are held to the Node
 * module's by `typeof`.
 */
import { UsageError } from '../model/errors.js'
import type * as Node from './node-io.js'

export const openDirStorage: typeof Node.openDirStorage = async () => {
  throw new UsageError('ERR_ARGUMENT', 'dir: there is no file system in a browser; give storage (IdbClientStore.open(name)) instead')
}

export const writeFileFromChunks: typeof Node.writeFileFromChunks = async () => {
  throw new UsageError('ERR_USAGE', 'downloadTarget writes files, which a browser cannot: use fetchTarget, which returns the checked bytes')
}
