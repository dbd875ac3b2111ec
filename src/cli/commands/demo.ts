/**
 * `dagtuf demo` — the main job on the embedded default, with no setup.
 *
 * Through the publisher's own code path: create a repository (in a fresh
 * temporary folder, or --dir), add a sample target, publish, export the CAR a
 * client needs, check that CAR alone with VALID, and print each object's CID
 * and dag-json.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { str } from '../args.js'
import { readCar } from '../../blocks/car.js'
import { blockAsJson, prettyBlock } from '../../model/codec.js'
import { ValidationError } from '../../model/errors.js'
import { initRepo, loadCurrent, openSession, publishStaged } from '../../publish/engine.js'
import { exportCar } from '../../publish/export.js'
import { addFiles } from '../../publish/stage.js'
import { sourceLoader } from '../../validate/loader.js'
import { validateTimestamp } from '../../validate/valid.js'
import type { Command } from '../command.js'
import { textIo } from './publish-common.js'

export const demoCommand: Command = {
  name: 'demo',
  summary: 'create a repository, publish a sample target, export a CAR and verify it',
  usage: 'demo [--dir D] [--json]',
  options: { dir: { type: 'string', help: 'where to create the repository (default: a new temporary folder)' } },
  async run (args, io) {
    io = textIo(io, args)
    const work = await mkdtemp(join(tmpdir(), 'dagtuf-demo-'))
    const dir = str(args, 'dir') ?? join(work, 'repo')
    const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
    await init.repo.close()
    io.out(`repository ${dir}`)
    io.out(`first root ${init.head.root.toString()}`)

    const sample = join(work, 'hello.txt')
    await writeFile(sample, 'hello from dagtuf\n')
    const s = await openSession(dir, { lock: true })
    try {
      await addFiles(s, [sample], { path: 'examples/hello.txt' })
      const r = await publishStaged(s)
      if (r.kind !== 'published') throw new ValidationError('ERR_DEMO', 'the demo publish did not complete')
      const car = join(work, 'repo.car')
      const current = await loadCurrent(s.repo, s.node)
      const exp = await exportCar(s.node, current.loader, r.head.timestamp, car, { content: true })
      // The CAR alone, as a client would read it.
      const report = await validateTimestamp(sourceLoader(await readCar(car)), r.head.timestamp)
      const p = current.published
      const objects: Record<string, { cid: string, bytes: number, object: unknown }> = {}
      for (const [kind, env] of [['root', p.root], ['targets', p.targets], ['snapshot', p.snapshot], ['timestamp', p.timestamp]] as const) {
        objects[kind] = { cid: env.cid.toString(), bytes: env.bytes.byteLength, object: blockAsJson(env.bytes) }
        io.out(`\n${kind} ${env.cid.toString()} (${env.bytes.byteLength} bytes)`)
        io.out(prettyBlock(env.bytes))
      }
      io.out(`\npublished timestamp ${r.head.timestamp.toString()}`)
      io.out(`exported ${car}: ${exp.blocks} blocks; VALID ${report.valid ? 'holds' : `fails: ${report.violations.map((v) => v.rule).join(', ')}`}`)
      return {
        result: { dir, timestamp: r.head.timestamp.toString(), car, blocks: exp.blocks, valid: report.valid, violations: report.violations, objects },
        exitCode: report.valid ? 0 : 1
      }
    } finally {
      await s.repo.close()
    }
  }
}
