/**
 * The history a client would walk, as a graph (src/history/model.ts), the
 * witness of `<-*` on it (witness.ts), and its drawings (render.ts: JSON,
 * Graphviz DOT, self-contained SVG). Used by `dagtuf history`; no Node
 * built-in is imported, so the browser inspector may reuse it.
 */
export { buildHistory, HISTORY_DEFAULTS, HISTORY_VERSION, type History, type HistoryEdge, type HistoryNode, type HistoryOptions, type KeyChange, type Lane, type NodeKind, type EdgeKind } from './model.js'
export { withWitness } from './witness.js'
export { toDot, toSvg, SVG_LIMITS } from './render.js'
