/**
 * The witness of `<-*` between two objects of a history (`dagtuf history
 * --from A --to B`): the relation decided by src/relations (every step
 * checked, NOTES 5), its path marked on the graph.
 *
 * No Node built-in is imported here: the browser inspector may reuse it.
 */
import type { CID } from 'multiformats/cid'
import { UsageError, ValidationError } from '../model/errors.js'
import type { RuleId } from '../model/rules.js'
import { succStar } from '../relations/index.js'
import type { Loader } from '../validate/loader.js'
import type { History, NodeKind } from './model.js'

/**
 * `history` with the witness of `from <-* to` (both objects of one kind;
 * timestamps give their snapshot chain, NOTES 5.5).
 *
 * @throws {UsageError} ERR_USAGE when `from` or `to` is not an object of the graph, or they are of different kinds
 * @throws {ValidationError} SUCC-STAR (or the bound that ran out, BOUND-CHAIN) when `from <-* to` does not hold;
 *   details.violations lists why, each with its rule and CID
 * @throws {BlockError} when a block cannot be fetched
 */
export async function withWitness (loader: Loader, history: History, from: CID, to: CID): Promise<History> {
  const kindOf = (c: CID): NodeKind => {
    const n = history.nodes.find((x) => x.id === c.toString())
    if (n === undefined) throw new UsageError('ERR_USAGE', `${c} is not an object of this history (give --from and --to among the CIDs it draws)`)
    return n.kind
  }
  const kind = kindOf(from)
  if (kindOf(to) !== kind) throw new UsageError('ERR_USAGE', `--from ${from} is a ${kind}, --to ${to} a ${kindOf(to)}: <-* relates objects of one kind`)
  const rel = await succStar(loader, kind, from, to)
  if (!rel.holds) {
    const bound = rel.violations.find((v) => v.rule === 'BOUND-CHAIN')
    const rule: RuleId = bound === undefined ? 'SUCC-STAR' : 'BOUND-CHAIN'
    const first = rel.violations[0]
    throw new ValidationError(rule, `${from} <-* ${to} does not hold${first === undefined ? '' : ` (${first.rule} at ${first.cid}: ${first.message})`}`, {
      details: { cid: from.toString(), violations: rel.violations.map((v) => ({ rule: v.rule, cid: v.cid, message: v.message })) }
    })
  }
  // Timestamps: the witness is the chain of their snapshots; the path starts at `from` itself.
  const path = kind === 'timestamp' ? [from.toString(), ...rel.witness, to.toString()] : [...rel.witness]
  return { ...history, witness: { kind, from: from.toString(), to: to.toString(), path } }
}
