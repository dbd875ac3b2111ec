/** A real repository folder made with the publisher's API, for transport and CLI tests. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { addFiles } from '../../src/publish/stage.js'
import { initRepo, openSession, publishStaged } from '../../src/publish/engine.js'

export interface MadeRepo {
  dir: string
  /** The first root's CID (what a client trusts out of band). */
  root: string
  /** Timestamp CIDs, one per publish, oldest first. */
  timestamps: string[]
}

async function stageAndPublish (dir: string, work: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string> {
  const session = await openSession(dir, { lock: true })
  try {
    const names = Object.keys(files)
    if (names.length > 0) {
      const paths: string[] = []
      for (const [i, name] of names.entries()) {
        const f = join(work, `.content-${Date.now()}-${i}`)
        await writeFile(f, files[name]!)
        paths.push(f)
      }
      for (const [i, p] of paths.entries()) await addFiles(session, [p], { path: names[i]!, replace: true })
    }
    const r = await publishStaged(session)
    if (r.kind !== 'published') throw new Error(`publish did not complete: ${r.kind}`)
    return r.head.timestamp.toString()
  } finally {
    await session.repo.close()
  }
}

/** Create a repository in `dir` holding `files` (target path -> content), published. */
export async function makeRepo (dir: string, work: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<MadeRepo> {
  const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
  const root = init.head.root.toString()
  const first = init.head.timestamp.toString()
  await init.repo.close()
  const ts = await stageAndPublish(dir, work, files)
  return { dir, root, timestamps: [first, ts] }
}

/** Publish more files into `repo`; returns the new timestamp CID. */
export async function publishMore (repo: MadeRepo, work: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string> {
  const ts = await stageAndPublish(repo.dir, work, files)
  repo.timestamps.push(ts)
  return ts
}
