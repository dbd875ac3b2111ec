/**
 * The Updater's OpenTelemetry spans (issue 17 item 1, src/client/tracing.ts),
 * recorded by the real SDK (@opentelemetry/sdk-trace-base) into its
 * in-memory exporter: a span per refresh and download, a child per step,
 * status ERROR with the rule ID on a refusal.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { context, trace, SpanStatusCode } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { BlockSource } from '../../src/blocks/types.js'
import { Updater } from '../../src/client/updater.js'
import { SPAN } from '../../src/client/tracing.js'
import { RepoSim } from '../helpers/history.js'
import { refusedUnchanged, tempDir, text, type TempDir } from '../helpers/client-sim.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
let dir: TempDir

beforeAll(() => {
  expect(trace.setGlobalTracerProvider(provider)).toBe(true)
  expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())).toBe(true)
})
afterAll(() => {
  trace.disable()
  context.disable()
})
beforeEach(async () => {
  exporter.reset()
  dir = await tempDir('dagtuf-trace-')
  return async () => { await dir.remove() }
})

function byName (spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((s) => s.name === name)
}

/** The children of `parent` among `spans`, by name, in start order. */
function childrenOf (spans: readonly ReadableSpan[], parent: ReadableSpan): string[] {
  const id = parent.spanContext().spanId
  return spans.filter((s) => s.parentSpanContext?.spanId === id)
    .sort((a, b) => (a.startTime[0] - b.startTime[0]) || (a.startTime[1] - b.startTime[1]))
    .map((s) => s.name)
}

async function setup () {
  const sim = await RepoSim.create({ seed: 31, topKeys: { root: { keys: 1, threshold: 1 }, targets: { keys: 1, threshold: 1 }, snapshot: { keys: 1, threshold: 1 }, timestamp: { keys: 1, threshold: 1 } } })
  await sim.addTarget('targets', 'app.tgz', text('app v1'))
  const v1 = await sim.publish()
  await sim.addTarget('targets', 'app.tgz', text('app v2'))
  const v2 = await sim.publish()
  const up = await Updater.create({ dir: dir.path, source: sim.store as BlockSource, unsafeReferenceTime: sim.now, head: async () => v2.timestamp.cid })
  await up.init(sim.versions[0]!.root.cid)
  return { sim, v1, v2, up }
}

describe('Updater spans (OpenTelemetry SDK, in-memory exporter)', () => {
  it('an accepted refresh is one dagtuf.refresh span with a child per step, all OK, with the new timestamp as attribute', async () => {
    const { up, v2 } = await setup()
    exporter.reset()
    await up.refresh()
    const spans = exporter.getFinishedSpans()
    const [refresh] = byName(spans, SPAN.refresh)
    expect(byName(spans, SPAN.refresh)).toHaveLength(1)
    expect(refresh!.status.code).toBe(SpanStatusCode.OK)
    expect(refresh!.attributes['dagtuf.timestamp']).toBe(v2.timestamp.cid.toString())
    expect(refresh!.attributes['dagtuf.continuity']).toBe('first')
    expect(refresh!.attributes['dagtuf.fetched.blocks']).toBeGreaterThan(0)
    expect(childrenOf(spans, refresh!)).toEqual([SPAN.head, SPAN.timestamp, SPAN.rootChain, SPAN.validTop, SPAN.expires, SPAN.snapshotWalk, SPAN.persist])
    for (const s of spans) expect(s.status.code, s.name).toBe(SpanStatusCode.OK)
    // All in one trace.
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)
  })

  it("the application's active span is the parent of the refresh span", async () => {
    const { up } = await setup()
    exporter.reset()
    const tracer = trace.getTracer('the-application')
    await tracer.startActiveSpan('plugin-host.load', async (app) => {
      await up.refresh()
      app.end()
    })
    const spans = exporter.getFinishedSpans()
    const [app] = byName(spans, 'plugin-host.load')
    expect(childrenOf(spans, app!)).toEqual([SPAN.refresh])
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)
  })

  it('a refused refresh ends the failing step and the refresh span with status ERROR and the rule ID (CLIENT-TS-DESCENDS) and CID as attributes', async () => {
    const { up, v1 } = await setup()
    await up.refresh()
    exporter.reset()
    await refusedUnchanged(dir.path, async () => await up.refresh(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
    const spans = exporter.getFinishedSpans()
    const [refresh] = byName(spans, SPAN.refresh)
    expect(refresh!.status.code).toBe(SpanStatusCode.ERROR)
    expect(refresh!.status.message).toMatch(/^CLIENT-TS-DESCENDS: /)
    expect(refresh!.attributes['dagtuf.rule']).toBe('CLIENT-TS-DESCENDS')
    expect(refresh!.attributes['dagtuf.cid']).toBe(v1.timestamp.cid.toString())
    // The steps before it passed; the walk failed; nothing was persisted.
    expect(childrenOf(spans, refresh!)).toEqual([SPAN.timestamp, SPAN.rootChain, SPAN.validTop, SPAN.expires, SPAN.snapshotWalk])
    const [walk] = byName(spans, SPAN.snapshotWalk)
    expect(walk!.status.code).toBe(SpanStatusCode.ERROR)
    expect(walk!.attributes['dagtuf.rule']).toBe('CLIENT-TS-DESCENDS')
    expect(byName(spans, SPAN.validTop)[0]!.status.code).toBe(SpanStatusCode.OK)
  })

  it('a download is one dagtuf.download span with the targets search and the content fetch as children', async () => {
    const { up } = await setup()
    await up.refresh()
    const info = (await up.getTargetInfo('app.tgz'))!
    exporter.reset()
    await up.downloadTarget(info, join(dir.path, 'app.out'))
    const spans = exporter.getFinishedSpans()
    const [dl] = byName(spans, SPAN.download)
    expect(dl!.status.code).toBe(SpanStatusCode.OK)
    expect(dl!.attributes).toMatchObject({ 'dagtuf.path': 'app.tgz', 'dagtuf.cid': info.cid.toString(), 'dagtuf.length': 6 })
    expect(dl!.attributes['dagtuf.fetched.bytes']).toBeGreaterThanOrEqual(6)
    expect(childrenOf(spans, dl!)).toEqual([SPAN.targetsSearch, SPAN.contentFetch])
  })

  it('an SDK that throws changes no outcome: the update is accepted, the refusal keeps its rule', async () => {
    const { up, v1 } = await setup()
    trace.disable()
    const broken = { getTracer: () => ({ startSpan: () => { throw new Error('broken SDK') }, startActiveSpan: () => { throw new Error('broken SDK') } }) }
    try {
      expect(trace.setGlobalTracerProvider(broken as unknown as BasicTracerProvider)).toBe(true)
      const r = await up.refresh()
      expect(r.continuity).toBe('first')
      await refusedUnchanged(dir.path, async () => await up.refresh(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
    } finally {
      trace.disable()
      expect(trace.setGlobalTracerProvider(provider)).toBe(true)
    }
  })

  it('tampered content ends the content fetch and the download with status ERROR and CLIENT-TARGET-CONTENT', async () => {
    const { up, sim } = await setup()
    await up.refresh()
    const info = (await up.getTargetInfo('app.tgz'))!
    sim.store.tamper(info.cid, () => text('app v9'))
    exporter.reset()
    await expect(up.downloadTarget(info, join(dir.path, 'app.out'))).rejects.toMatchObject({ code: 'CLIENT-TARGET-CONTENT' })
    const spans = exporter.getFinishedSpans()
    const [dl] = byName(spans, SPAN.download)
    expect(dl!.status.code).toBe(SpanStatusCode.ERROR)
    expect(dl!.attributes['dagtuf.rule']).toBe('CLIENT-TARGET-CONTENT')
    expect(byName(spans, SPAN.contentFetch)[0]!.status.code).toBe(SpanStatusCode.ERROR)
    expect(byName(spans, SPAN.targetsSearch)[0]!.status.code).toBe(SpanStatusCode.OK)
  })
})
