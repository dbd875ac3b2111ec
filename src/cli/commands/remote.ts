/**
 * Clients of a signing service (`dagtuf serve --sessions`, NOTES 10.2):
 *
 *   remote propose --server URL (--ops FILE | --staged DIR | --refresh ROLE)
 *       POST /drafts: the operations of FILE (JSON: a list of staged-form ops,
 *       or { "ops": [...] }), the changes staged in the local repository DIR
 *       (`dagtuf add/delegate/rotate --dir DIR`; they stay staged there), or a
 *       re-sign of ROLE
 *   remote drafts --server URL            GET /drafts
 *   remote status --server URL [--draft ID]   GET /head and /config, or GET /drafts/ID
 *   remote sign --server URL --draft ID --key KEYFILE...
 *       GET /drafts/ID, sign what each key is waited for, POST the signatures
 *   remote withdraw --server URL --draft ID   DELETE /drafts/ID
 *
 * What `remote sign` signs is what the service asks; before signing, each
 * object's message must be the signature domain followed by a well-formed,
 * canonical root (for the role root) or targets object (any other role),
 * checked with the strict decoder, so a key is never used on arbitrary bytes.
 * Review it first with `remote status --draft ID` (the `signed` parts).
 *
 * A refusal is RepoError ERR_REMOTE_REFUSED whose details carry the service's
 * status, code and rule; an answer that is not what was asked is
 * ERR_REMOTE_ANSWER; a failed connection BlockError ERR_TRANSPORT.
 */
import { readFile } from 'node:fs/promises'
import { cidOf, decodeEnvelope } from '../../model/codec.js'
import { BlockError, RepoError, UsageError } from '../../model/errors.js'
import { SIGNATURE_DOMAIN, toHexSig, type Signer } from '../../model/keys.js'
import { opJson } from '../../publish/files.js'
import { Repo } from '../../publish/repo.js'
import { list, str } from '../args.js'
import type { Command, Io } from '../command.js'
import { PASSPHRASE, PKCS11, textIo, withSigners } from './publish-common.js'

/** Largest answer read from a service. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024

const SERVER = { server: { type: 'string' as const, help: 'the service\'s base URL (dagtuf serve --sessions), e.g. http://127.0.0.1:8080' } }
const DRAFT = { draft: { type: 'string' as const, help: 'the draft id' } }

function serverOf (text: string | undefined): string {
  if (text === undefined) throw new UsageError('ERR_USAGE', 'remote commands need --server URL (a dagtuf serve --sessions)')
  let url: URL
  try { url = new URL(text) } catch { throw new UsageError('ERR_USAGE', `--server: not a URL: ${JSON.stringify(text.slice(0, 80))}`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('ERR_USAGE', '--server must be an http:// or https:// URL')
  return url.toString().replace(/\/+$/, '')
}

function draftOf (text: string | undefined): string {
  if (text === undefined || !/^draft-[0-9a-f]{8,32}$/.test(text)) throw new UsageError('ERR_USAGE', '--draft ID is needed (draft-HEX, from remote propose or remote drafts)')
  return text
}

/** One request; the JSON answer, or the service's refusal as ERR_REMOTE_REFUSED. */
async function call (server: string, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  let answer: Response
  try {
    answer = await fetch(`${server}${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(120_000)
    })
  } catch (cause) {
    throw new BlockError('ERR_TRANSPORT', `${method} ${server}${path} failed`, { cause, details: { server } })
  }
  const bytes = new Uint8Array(await answer.arrayBuffer())
  if (bytes.byteLength > MAX_ANSWER_BYTES) throw new RepoError('ERR_REMOTE_ANSWER', `the answer to ${method} ${path} is over ${MAX_ANSWER_BYTES} bytes`, { details: { server } })
  let parsed: unknown
  try { parsed = JSON.parse(new TextDecoder().decode(bytes)) } catch { parsed = undefined }
  if (!answer.ok) {
    const e = (typeof parsed === 'object' && parsed !== null ? (parsed as { error?: Record<string, unknown> }).error : undefined) ?? {}
    const said = typeof e.message === 'string' ? e.message : `HTTP ${answer.status}`
    throw new RepoError('ERR_REMOTE_REFUSED', `${server} refused ${method} ${path}: ${said}`, {
      details: { server, status: answer.status, ...(typeof e.code === 'string' ? { serverCode: e.code } : {}), ...(typeof e.rule === 'string' ? { rule: e.rule } : {}) }
    })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RepoError('ERR_REMOTE_ANSWER', `the answer to ${method} ${path} is not a JSON object`, { details: { server } })
  return parsed as Record<string, any>
}

function needsLines (view: Record<string, any>): string[] {
  const needs = Array.isArray(view.needs) ? view.needs as Array<Record<string, any>> : []
  return needs.map((n) => `  ${String(n.role)} (${String(n.label)}): ${Number(n.have)} of ${Number(n.threshold)}${Number(n.have) < Number(n.threshold) ? `; may still sign: ${(n.missing as string[]).join(', ')}` : ''}`)
}

function viewLines (view: Record<string, any>): string[] {
  if (view.state === 'published') return [`${String(view.id)} published: timestamp ${String(view.timestamp)}`]
  return [`${String(view.id)} ${String(view.state)}, created ${String(view.created)}, expires ${String(view.expires)}`, ...needsLines(view)]
}

/**
 * The signed bytes of a message the service asks to sign, checked: the
 * signature domain, then a canonical object of the role's kind.
 * @throws {RepoError} ERR_REMOTE_ANSWER
 */
function checkedMessage (role: string, message: unknown, server: string): Uint8Array {
  const bytes = typeof message === 'string' ? new Uint8Array(Buffer.from(message, 'base64')) : undefined
  const d = SIGNATURE_DOMAIN
  if (bytes === undefined || bytes.byteLength <= d.byteLength || !d.every((b, i) => bytes[i] === b)) {
    throw new RepoError('ERR_REMOTE_ANSWER', `the ${role} message to sign does not start with the signature domain`, { details: { server, role } })
  }
  const signed = bytes.subarray(d.byteLength)
  // An envelope with no signature around those exact bytes (dag-json sorts "signatures" before "signed").
  const env = new Uint8Array(Buffer.concat([Buffer.from('{"signatures":[],"signed":'), Buffer.from(signed), Buffer.from('}')]))
  try {
    decodeEnvelope(role === 'root' ? 'root' : 'targets', env, cidOf(env))
  } catch (cause) {
    throw new RepoError('ERR_REMOTE_ANSWER', `the ${role} message to sign is not a well-formed ${role === 'root' ? 'root' : 'targets'} object`, { cause, details: { server, role } })
  }
  return bytes
}

export const remoteProposeCommand: Command = {
  name: 'remote propose',
  summary: 'propose a change to a signing service (POST /drafts): a draft that waits for signatures',
  usage: 'remote propose --server URL (--ops FILE | --staged DIR | --refresh ROLE)',
  maxPositionals: 0,
  options: {
    ...SERVER,
    ops: { type: 'string', help: 'a JSON file: a list of operations in staged form, or { "ops": [...] }' },
    staged: { type: 'string', help: 'propose the changes staged in this local repository (they stay staged there)' },
    refresh: { type: 'string', help: 'propose a re-sign of this role (root, targets)' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const server = serverOf(str(args, 'server'))
    const given = ['ops', 'staged', 'refresh'].filter((o) => str(args, o) !== undefined)
    if (given.length !== 1) throw new UsageError('ERR_USAGE', 'remote propose takes exactly one of --ops FILE, --staged DIR, --refresh ROLE')
    let ops: unknown
    if (str(args, 'ops') !== undefined) {
      const file = str(args, 'ops')!
      let parsed: unknown
      try { parsed = JSON.parse(await readFile(file, 'utf8')) } catch (cause) { throw new UsageError('ERR_USAGE', `--ops: cannot read JSON from ${file}`, { cause }) }
      ops = Array.isArray(parsed) ? parsed : (parsed as { ops?: unknown } | null)?.ops
      if (!Array.isArray(ops)) throw new UsageError('ERR_USAGE', '--ops: expected a list of operations or { "ops": [...] }')
    } else if (str(args, 'staged') !== undefined) {
      const repo = await Repo.open(str(args, 'staged')!)
      try {
        ops = (await repo.staged()).ops.map(opJson)
      } finally {
        await repo.close()
      }
    } else {
      ops = [{ op: 'refresh', role: str(args, 'refresh') }]
    }
    const view = await call(server, 'POST', '/drafts', { ops })
    io.out(`proposed ${String(view.id)} at ${server}`)
    for (const l of needsLines(view)) io.out(l)
    return { result: { server, draft: view } }
  }
}

export const remoteDraftsCommand: Command = {
  name: 'remote drafts',
  summary: 'list the pending drafts of a signing service and who still has to sign them',
  usage: 'remote drafts --server URL',
  maxPositionals: 0,
  options: { ...SERVER },
  async run (args, io) {
    io = textIo(io, args)
    const server = serverOf(str(args, 'server'))
    const r = await call(server, 'GET', '/drafts')
    const drafts = Array.isArray(r.drafts) ? r.drafts as Array<Record<string, any>> : []
    if (drafts.length === 0) io.out('no pending drafts')
    for (const d of drafts) for (const l of viewLines(d)) io.out(l)
    return { result: { server, drafts } }
  }
}

export const remoteStatusCommand: Command = {
  name: 'remote status',
  summary: 'a signing service\'s head and limits, or one draft (what it asks to sign, who must)',
  usage: 'remote status --server URL [--draft ID]',
  maxPositionals: 0,
  options: { ...SERVER, ...DRAFT },
  async run (args, io) {
    io = textIo(io, args)
    const server = serverOf(str(args, 'server'))
    if (str(args, 'draft') !== undefined) {
      const view = await call(server, 'GET', `/drafts/${draftOf(str(args, 'draft'))}`)
      for (const l of viewLines(view)) io.out(l)
      for (const o of Array.isArray(view.objects) ? view.objects as Array<Record<string, any>> : []) {
        io.out(`--- ${String(o.role)}`)
        io.out(JSON.stringify(o.signed, null, 2))
      }
      return { result: { server, draft: view } }
    }
    const config = await call(server, 'GET', '/config')
    io.out(`${server}: head ${String(config.head)}, root ${String(config.root)}, pushes ${config.pushes === true ? 'on' : 'off'}`)
    return { result: { server, head: config.head ?? null, root: config.root ?? null, config } }
  }
}

export const remoteSignCommand: Command = {
  name: 'remote sign',
  summary: 'sign a signing service\'s draft with your keys (what each key is waited for) and send the signatures',
  usage: 'remote sign --server URL --draft ID (--key KEYFILE... | --pkcs11-module M [--pkcs11-key LABEL...]) [--passphrase-file F]',
  maxPositionals: 0,
  options: { ...SERVER, ...DRAFT, ...PASSPHRASE, key: { type: 'list', help: 'private key files to sign with' }, ...PKCS11 },
  async run (args, io) {
    io = textIo(io, args)
    const server = serverOf(str(args, 'server'))
    const id = draftOf(str(args, 'draft'))
    return await withSigners(args, 'remote sign', async (signers) => await remoteSign(server, id, signers, io))
  }
}

async function remoteSign (server: string, id: string, signers: readonly Signer[], io: Io): Promise<{ result: Record<string, unknown> }> {
  const view = await call(server, 'GET', `/drafts/${id}`)
  if (view.state !== 'pending') throw new RepoError('ERR_REMOTE_REFUSED', `draft ${id} is ${String(view.state)}: it takes no signatures`, { details: { server, state: String(view.state) } })
  const needs = Array.isArray(view.needs) ? view.needs as Array<Record<string, any>> : []
  const objects = Array.isArray(view.objects) ? view.objects as Array<Record<string, any>> : []
  const signatures: Array<{ role: string, keyid: string, sig: string }> = []
  for (const o of objects) {
    const role = String(o.role)
    const waited = new Set(needs.filter((n) => n.role === role).flatMap((n) => Array.isArray(n.missing) ? n.missing as string[] : []))
    const mine = signers.filter((s) => waited.has(s.keyid))
    if (mine.length === 0) continue
    const message = checkedMessage(role, o.message, server)
    for (const s of mine) signatures.push({ role, keyid: s.keyid, sig: toHexSig(await s.sign(message)) })
  }
  if (signatures.length === 0) throw new RepoError('ERR_REMOTE_REFUSED', `draft ${id} waits for none of these keys`, { details: { server, keyids: signers.map((s) => s.keyid) } })
  const r = await call(server, 'POST', `/drafts/${id}/signatures`, { signatures })
  for (const s of signatures) io.out(`signed ${s.role} with ${s.keyid.slice(0, 16)}`)
  for (const l of viewLines((r.draft ?? {}) as Record<string, any>)) io.out(l)
  return { result: { server, signed: signatures.map(({ role, keyid }) => ({ role, keyid })), published: r.published === true, draft: r.draft } }
}

export const remoteWithdrawCommand: Command = {
  name: 'remote withdraw',
  summary: 'withdraw a pending draft of a signing service (DELETE /drafts/ID)',
  usage: 'remote withdraw --server URL --draft ID',
  maxPositionals: 0,
  options: { ...SERVER, ...DRAFT },
  async run (args, io) {
    io = textIo(io, args)
    const server = serverOf(str(args, 'server'))
    const id = draftOf(str(args, 'draft'))
    await call(server, 'DELETE', `/drafts/${id}`)
    io.out(`withdrew ${id}`)
    return { result: { server, draft: id, withdrawn: true } }
  }
}
