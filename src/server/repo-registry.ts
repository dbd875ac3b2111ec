/**
 * The head registry's store over a repository folder: blocks in its
 * embedded node, the head in head.json, commits through acceptHead
 * (src/publish/accept.ts: repository lock, compare-and-swap, blocks flushed
 * before the head moves).
 */
import type { CID } from 'multiformats/cid'
import type { RepoNode } from '../blocks/repo-node.js'
import { acceptHead } from '../publish/accept.js'
import type { Repo } from '../publish/repo.js'
import type { HeadStore } from './registry-handlers.js'

/**
 * A HeadStore over an open repository and its node. `head` is how the
 * server reads the head (it may cache by file identity).
 */
export function repoHeadStore (repo: Repo, node: RepoNode, head: () => Promise<CID | null>, now: () => Date = () => new Date()): HeadStore {
  return {
    source: node,
    head,
    commit: async ({ expected, timestamp, blocks }) => {
      const r = await acceptHead(repo, node, { expected, timestamp, blocks, now: now() })
      return r.kind === 'accepted' ? { kind: 'accepted', stored: r.stored } : r
    }
  }
}
