/**
 * `dagtuf demo` — the main job on the embedded default, with no setup.
 *
 * At this stage: make fresh keys, a root, an empty targets, a snapshot and a
 * timestamp; sign them as dag-json blocks; decode each back through the
 * strict decoder; print each CID and its dag-json.
 */
import { blockAsJson, decodeEnvelope, prettyBlock } from '../../model/codec.js'
import { expiresIn, makeRoot, makeSnapshot, makeTargets, makeTimestamp } from '../../model/build.js'
import { generateKeyPair, seedSigner } from '../../model/keys.js'
import { signEnvelope } from '../../model/sign.js'
import type { Command } from '../command.js'

export const demoCommand: Command = {
  name: 'demo',
  summary: 'build, sign and strictly decode a fresh set of dagtuf metadata blocks',
  usage: 'demo [--json]',
  options: {},
  async run (args, io) {
    const now = new Date()
    const pairs = { root: generateKeyPair(), targets: generateKeyPair(), snapshot: generateKeyPair(), timestamp: generateKeyPair() }
    const signer = (r: keyof typeof pairs) => seedSigner(pairs[r].seed)
    const one = (r: keyof typeof pairs) => ({ keys: [pairs[r].publicKey], threshold: 1 })

    const root = await signEnvelope(makeRoot({
      expires: expiresIn(now, 365 * 86400),
      roles: { root: one('root'), targets: one('targets'), snapshot: one('snapshot'), timestamp: one('timestamp') }
    }), [signer('root')])
    const targets = await signEnvelope(makeTargets({ expires: expiresIn(now, 90 * 86400) }), [signer('targets')])
    const snapshot = await signEnvelope(makeSnapshot({ expires: expiresIn(now, 7 * 86400), root: root.cid, targets: targets.cid }), [signer('snapshot')])
    const timestamp = await signEnvelope(makeTimestamp({ expires: expiresIn(now, 86400), snapshot: snapshot.cid }), [signer('timestamp')])

    const objects: Record<string, { cid: string, bytes: number, object: unknown }> = {}
    for (const [kind, env] of [['root', root], ['targets', targets], ['snapshot', snapshot], ['timestamp', timestamp]] as const) {
      // Round trip through the strict decoder, as a reader would see it.
      const back = decodeEnvelope(kind, env.bytes, env.cid)
      objects[kind] = { cid: back.cid.toString(), bytes: back.bytes.byteLength, object: blockAsJson(back.bytes) }
      if (args.options.json !== true) {
        io.out(`${kind} ${back.cid.toString()}  (${back.bytes.byteLength} bytes, decoded strictly)`)
        io.out(prettyBlock(back.bytes) + '\n')
      }
    }
    return { result: { objects } }
  }
}
