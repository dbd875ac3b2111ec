/**
 * A mirror: a repository folder that follows another repository's head and
 * serves what clients need from it (`dagtuf mirror`, issue 12 item 4).
 *
 *   M/mirror.json     what the mirror trusts and follows (written once at creation)
 *   M/client/         the mirror's own client state (src/client: Updater)
 *   M/head.json, M/log.jsonl, M/blocks/   a repository folder as `dagtuf serve` reads it
 *
 * Guarantees (each a consequence of the order of `sync`):
 * - A mirror never serves a head that a client would refuse: a new head is
 *   first checked by the mirror's own Updater, exactly as a client checks
 *   it (NOTES 7.2: VALID, the root chain, freshness, CLIENT-TS-DESCENDS from
 *   the head the mirror trusted before), against a root given out of band
 *   when the mirror was created. A refused head changes nothing.
 * - head.json names only complete DAGs: every block reachable from the new
 *   timestamp (the whole history a lagging client may walk: previous
 *   versions, skips, root chain, every role's object and shard node; target
 *   content too with `content`) is stored and flushed to disk before
 *   head.json moves. Blocks are written children first, so a block in the
 *   store always has its whole DAG below it there too: a crash in the middle
 *   leaves the old head and some complete sub-DAGs, and the next sync
 *   resumes where it stopped (it does not fetch what is stored).
 * - Bounded: a sync fetches at most `maxBlocks` blocks and `maxBytes` bytes
 *   (RepoError ERR_REPO_LIMIT past them, nothing moved), each block under
 *   the cap of its kind, every one hash-checked.
 * - One sync at a time per mirror folder: the repository lock.
 */
import * as fs from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import type { BlockSource } from '../blocks/types.js'
import { RepoError, UsageError } from '../model/errors.js'
import { expiresIn } from '../model/build.js'
import { parseJson } from '../model/strictjson.js'
import { Updater, type RefreshResult } from '../client/updater.js'
import { refreshFromHeads, type NamedHead, type SourceReport } from '../client/any-head.js'
import { configText, type HeadRecord } from '../publish/files.js'
import { Repo } from '../publish/repo.js'
import { exists, writeAtomic } from '../publish/repo-io.js'
import { loadPublished } from '../publish/state.js'
import { sourceLoader } from '../validate/loader.js'
import { copyClosure } from '../blocks/closure.js'

export { linksOf } from '../blocks/closure.js'

export const MIRROR_FILE = 'mirror.json'
/** Blocks one sync fetches at most (a first sync copies the whole history). */
export const DEFAULT_MIRROR_MAX_BLOCKS = 2_000_000
/** Bytes one sync fetches at most. */
export const DEFAULT_MIRROR_MAX_BYTES = 16 * 1024 ** 3

export interface MirrorInfo {
  /** The root the mirror was told to trust when it was created. */
  readonly root: string
  /** Whether target content is mirrored too. */
  readonly content: boolean
  readonly created: string
}

export interface SyncResult {
  /** The Updater's report of the head taken (or found current). */
  readonly update: RefreshResult
  /** One report per source (several head sources). */
  readonly sources?: SourceReport[]
  /** Whether head.json moved. */
  readonly moved: boolean
  readonly head: string
  /** Blocks fetched and stored by this sync, and their bytes. */
  readonly fetched: { blocks: number, bytes: number }
}

export interface SyncOptions {
  /** Where blocks come from (a SourceSet for several). Untrusted. */
  readonly source: BlockSource
  /** Where heads come from: one or several, each untrusted. */
  readonly heads: readonly NamedHead[]
  readonly maxBlocks?: number
  readonly maxBytes?: number
  readonly signal?: AbortSignal
  /** The clock of the mirror's checks (tests). */
  readonly now?: Date
}

function parseMirrorInfo (bytes: Uint8Array): MirrorInfo {
  const bad = (why: string): RepoError => new RepoError('ERR_REPO_CORRUPT', `${MIRROR_FILE} is malformed: ${why}`, { details: { file: MIRROR_FILE } })
  const o = parseJson(bytes, { maxBytes: 64 * 1024, onError: bad }) as Record<string, unknown>
  if (typeof o !== 'object' || o === null || typeof o.root !== 'string' || typeof o.content !== 'boolean' || typeof o.created !== 'string') {
    throw new RepoError('ERR_REPO_CORRUPT', `${MIRROR_FILE} is malformed`, { details: { file: MIRROR_FILE } })
  }
  return { root: o.root, content: o.content, created: o.created }
}

export class Mirror {
  readonly dir: string
  readonly info: MirrorInfo

  private constructor (dir: string, info: MirrorInfo) {
    this.dir = dir
    this.info = info
  }

  /** Whether `dir` holds a mirror. */
  static async isMirror (dir: string): Promise<boolean> {
    return await exists(join(resolve(dir), MIRROR_FILE))
  }

  /**
   * Open the mirror in `dir`.
   *
   * @throws {RepoError} ERR_REPO_NOT_FOUND (no mirror there) | ERR_REPO_CORRUPT
   */
  static async open (dir: string): Promise<Mirror> {
    const abs = resolve(dir)
    let bytes: Uint8Array
    try {
      bytes = await fs.readFile(join(abs, MIRROR_FILE))
    } catch {
      throw new RepoError('ERR_REPO_NOT_FOUND', `no dagtuf mirror in ${abs} (create one with --root CID)`, { details: { dir: abs } })
    }
    if (bytes.byteLength > 64 * 1024) throw new RepoError('ERR_REPO_CORRUPT', `${MIRROR_FILE} is too large`, { details: { file: MIRROR_FILE } })
    return new Mirror(abs, parseMirrorInfo(bytes))
  }

  /**
   * Create a mirror of the repository whose root is `root` (given out of
   * band, as to a client): the folder, its client state (the root fetched
   * from `source` and checked), then mirror.json last. The folder must not
   * hold a repository or a mirror. Nothing is served before the first sync.
   *
   * @throws {RepoError} ERR_REPO_EXISTS | ERR_REPO_IO; the client's init errors (ValidationError, BlockError)
   */
  static async create (dir: string, root: CID, source: BlockSource, options: { content?: boolean } = {}): Promise<Mirror> {
    const abs = resolve(dir)
    if (await exists(join(abs, MIRROR_FILE))) throw new RepoError('ERR_REPO_EXISTS', `${abs} already holds a mirror`, { details: { dir: abs } })
    if (await exists(join(abs, 'config.json')) || await exists(join(abs, 'head.json'))) {
      throw new RepoError('ERR_REPO_EXISTS', `${abs} holds a repository: a mirror needs a folder of its own`, { details: { dir: abs } })
    }
    const clientDir = join(abs, 'client')
    const fresh = !await exists(clientDir)
    try {
      const client = await Updater.create({ dir: clientDir, source })
      await client.init(root)
    } catch (e) {
      // A root that cannot be trusted leaves no half-made mirror behind: the next try starts afresh.
      if (fresh) await fs.rm(clientDir, { recursive: true, force: true }).catch(() => {})
      throw e
    }
    const info: MirrorInfo = { root: root.toString(), content: options.content === true, created: expiresIn(new Date(), 0) }
    await writeAtomic(join(abs, MIRROR_FILE), JSON.stringify(info, null, 2) + '\n')
    return new Mirror(abs, info)
  }

  /**
   * Check the heads of the sources as a client does, copy the DAG of the one
   * accepted, then move head.json (see the module comment).
   *
   * @throws {ValidationError} the rule a head broke (every source refused: nothing moved)
   * @throws {BlockError} a source failed; {RepoError} ERR_REPO_LIMIT | ERR_REPO_LOCKED | ERR_REPO_IO
   */
  async sync (options: SyncOptions): Promise<SyncResult> {
    if (options.heads.length === 0) throw new UsageError('ERR_ARGUMENT', 'sync: give at least one head source')
    const maxBlocks = options.maxBlocks ?? DEFAULT_MIRROR_MAX_BLOCKS
    const maxBytes = options.maxBytes ?? DEFAULT_MIRROR_MAX_BYTES
    // The repository lock for the whole sync: one sync at a time, and no publish into a mirror.
    const repo = await this.#openRepo()
    try {
      const client = await Updater.create({
        dir: join(this.dir, 'client'),
        source: options.source,
        ...(options.now === undefined ? {} : { unsafeReferenceTime: options.now }),
        ...(options.signal === undefined ? {} : { signal: options.signal })
      })
      let update: RefreshResult
      let sources: SourceReport[] | undefined
      if (options.heads.length === 1) {
        update = await client.refresh(await options.heads[0]!.head(options.signal === undefined ? {} : { signal: options.signal }))
      } else {
        const r = await refreshFromHeads(client, options.heads, options.signal === undefined ? {} : { signal: options.signal })
        update = r.result
        sources = r.sources
      }
      const timestamp = CID.parse(update.timestamp)
      {
        const node = await repo.node()
        const headBytes = await repo.headBytes()
        const previous = headBytes === undefined ? undefined : await repo.head()
        if (previous?.timestamp.equals(timestamp) === true) {
          return { update, ...(sources === undefined ? {} : { sources }), moved: false, head: update.timestamp, fetched: { blocks: 0, bytes: 0 } }
        }
        const copy = await copyClosure(timestamp, options.source, node, { content: this.info.content, maxBlocks, maxBytes, ...(options.signal === undefined ? {} : { signal: options.signal }) })
        const dag = await loadPublished(sourceLoader(node), timestamp)
        const head: HeadRecord = {
          timestamp,
          snapshot: dag.snapshot.cid,
          root: dag.root.cid,
          targets: dag.targets.cid,
          delegated: new Map(dag.roles),
          retired: new Map(dag.retired),
          published: expiresIn(new Date(), 0),
          changes: [],
          source: ''
        }
        await repo.moveHead(head, headBytes)
        await repo.appendLog(head, previous)
        return { update, ...(sources === undefined ? {} : { sources }), moved: true, head: update.timestamp, fetched: { blocks: copy.blocks, bytes: copy.bytes } }
      }
    } finally {
      await repo.close()
    }
  }

  /** The mirror's repository folder, locked (created at the first sync). */
  async #openRepo (): Promise<Repo> {
    if (!await exists(join(this.dir, 'config.json'))) return await Repo.create(this.dir, configText())
    return await Repo.open(this.dir, { lock: true, allowNoHead: true })
  }
}

