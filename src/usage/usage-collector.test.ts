/**
 * The collector against a scripted store: batching, retry with backoff while the store is
 * down (nothing lost, order kept), a full queue (loss counted and logged, never silent), a
 * record the store refuses isolated from its batch, the shutdown drain, and its spans.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { type Endpoint, endpoints, type RequestContext } from '../gateway/request-context.ts';
import { chatCompletionsContext } from '../gateway/request-context-fixture.ts';
import type { MetricsRecorder } from '../observability/metrics.ts';
import type { CopyInput, Database, Queryable } from '../storage/database.ts';
import { copyInputText } from '../storage/test-databases.ts';
import { UsageCollector, type UsageCollectorOptions } from './usage-collector.ts';
import { sampleRecord } from './usage-test-records.ts';
import { usageRowColumns } from './usage-writer.ts';

/**
 * A store whose availability the test switches; it keeps the rows of every successful write,
 * read back from the COPY lines. A first attempt arrives as `copyFrom`, a retry as the
 * staging transaction, which stores a row only if no row with its id is stored yet (the
 * INSERT's ON CONFLICT DO NOTHING).
 */
class ScriptedStore implements Database {
  readonly kind = 'postgres' as const;
  rows: Array<Record<string, unknown>> = [];
  batchSizes: number[] = [];
  /** How each write that reached the store went: straight COPY, or the staging transaction. */
  writes: Array<'copy' | 'staged'> = [];
  attempts = 0;
  failure: Error | undefined;
  /** The next write is stored, then fails as if its answer were lost on the way back. */
  loseNextAnswer = false;
  /** The next write never answers (the collector's write timeout must end it). */
  hangNext = false;
  /** Request ids the store refuses as a data error (SQLSTATE 22P02). */
  refused = new Set<string>();

  async copyFrom(target: string, input: CopyInput): Promise<void> {
    assert.match(target, /^usage_records \(id, request_id, /);
    await this.#write(copyInputText(input), 'copy');
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const statements: string[] = [];
    let staged: string | undefined;
    const result = await work({
      query: async <Row extends object>(sql: string) => {
        statements.push(sql);
        return [] as Row[];
      },
      copyFrom: async (target, input) => {
        assert.match(target, /^usage_records_staging \(/);
        staged = copyInputText(input);
      },
    });
    assert.match(statements[0] ?? '', /^CREATE TEMP TABLE IF NOT EXISTS usage_records_staging/);
    assert.match(statements[1] ?? '', /ON CONFLICT DO NOTHING$/);
    await this.#write(staged!, 'staged');
    return result;
  }

  async #write(text: string, how: 'copy' | 'staged'): Promise<void> {
    this.attempts += 1;
    if (this.hangNext) {
      this.hangNext = false;
      await new Promise(() => {});
    }
    if (this.failure !== undefined) throw this.failure;
    const batch = text
      .slice(0, -1)
      .split('\n')
      .map((line) =>
        Object.fromEntries(
          line.split('\t').map((value, index) => [usageRowColumns[index], value === '\\N' ? null : value]),
        ),
      );
    if (batch.some((row) => this.refused.has(row.request_id as string)))
      throw Object.assign(new Error('invalid input syntax'), { code: '22P02' });
    const stored = new Set(this.rows.map((row) => row.id));
    const fresh = how === 'staged' ? batch.filter((row) => !stored.has(row.id)) : batch;
    this.batchSizes.push(batch.length);
    this.rows.push(...fresh);
    this.writes.push(how);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    }
  }

  query(): Promise<never> {
    return Promise.reject(new Error('the collector writes with COPY only'));
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}

function recordingMetrics() {
  const counters = new Map<string, number>();
  const gauges = new Map<string, number>();
  const key = (name: string, labels?: object) => `${name}${labels ? JSON.stringify(labels) : ''}`;
  const metrics: MetricsRecorder = {
    increment(name, labels, value = 1) {
      counters.set(key(name, labels), (counters.get(key(name, labels)) ?? 0) + value);
    },
    observe() {},
    set(name, value) {
      gauges.set(name, value);
    },
    adjust() {},
  };
  return {
    metrics,
    counter: (name: string, labels?: object) => counters.get(key(name, labels)) ?? 0,
    gauges,
  };
}

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug', messageKey: 'message' },
    new Writable({
      write(chunk, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()));
        callback();
      },
    }),
  );
  return { logger, lines };
}

function collectorWith(store: Database, options: Partial<UsageCollectorOptions> = {}) {
  const { metrics, counter, gauges } = recordingMetrics();
  const { logger, lines } = capturingLogger();
  const collector = new UsageCollector({
    database: store,
    logger,
    metrics,
    flushIntervalMs: 10,
    retryInitialDelayMs: 10,
    retryMaximumDelayMs: 40,
    ...options,
  });
  return { collector, counter, gauges, lines };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const requestIds = (rows: Array<Record<string, unknown>>) => rows.map((row) => row.request_id);

describe('usage collector', () => {
  test('writes full batches at once and a partial batch after the flush interval', async () => {
    const store = new ScriptedStore();
    const delays: number[] = [];
    const { collector, counter, gauges } = collectorWith(store, {
      batchSize: 500,
      flushIntervalMs: 50,
      onFlush: (report) => delays.push(...report.delaysMs),
    });
    const records = Array.from({ length: 1_200 }, () => sampleRecord());
    for (const record of records) collector.enqueue(record);
    await until(() => store.rows.length === 1_200, 'every record written');
    assert.deepEqual(store.batchSizes, [500, 500, 200]);
    assert.deepEqual(
      requestIds(store.rows),
      records.map((record) => record.requestId),
    );
    assert.equal(counter('usageFlushedTotal'), 1_200);
    assert.equal(counter('usagePublishTotal', { outcome: 'enqueued' }), 1_200);
    assert.equal(gauges.get('usageQueueDepth'), 0);
    assert.equal(delays.length, 1_200);
    assert.ok(Math.max(...delays.slice(1_000)) >= 40, 'the partial batch waited for the interval');
  });

  test('rows wait as bytes in slabs: a batch over several, a row larger than one, characters of several bytes', async () => {
    const store = new ScriptedStore();
    const { collector } = collectorWith(store, { batchSize: 10_000, flushIntervalMs: 60_000 });
    // 300,000 UTF-16 units, 600,000 bytes of UTF-8: more than a slab (256 KiB) holds.
    const huge = 'é🚀'.repeat(100_000);
    const records = Array.from({ length: 2_000 }, (_, index) =>
      sampleRecord({ requestedModel: index === 700 ? huge : `model-${index}-ü€` }),
    );
    for (const record of records) collector.enqueue(record);
    await collector.flush();
    assert.deepEqual(store.batchSizes, [2_000]);
    assert.deepEqual(
      requestIds(store.rows),
      records.map((record) => record.requestId),
    );
    assert.deepEqual(
      store.rows.map((row) => row.requested_model),
      records.map((record) => record.requestedModel),
    );
  });

  test('keeps records while the store is down and writes them all, in order, once it is back', async () => {
    const store = new ScriptedStore();
    store.failure = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { collector, counter, lines } = collectorWith(store, { batchSize: 10 });
    const records = Array.from({ length: 35 }, () => sampleRecord());
    for (const record of records) collector.enqueue(record);
    await until(() => store.attempts >= 4, 'several failed attempts');
    assert.equal(store.rows.length, 0);
    assert.equal(collector.depth, 35);
    assert.ok(counter('usageFlushErrorsTotal') >= 4);
    assert.ok(lines.some((line) => line.message === 'usage records write failed; retrying'));
    store.failure = undefined;
    await until(() => store.rows.length === 35, 'the backlog written');
    assert.deepEqual(
      requestIds(store.rows),
      records.map((record) => record.requestId),
    );
    assert.equal(counter('usageEnqueueErrorsTotal'), 0);
    assert.equal(collector.depth, 0);
  });

  test('a full queue loses the record, counts it and logs it; the queued ones survive', async () => {
    const store = new ScriptedStore();
    store.failure = new Error('database down');
    const { collector, counter, lines } = collectorWith(store, { queueCapacity: 5, batchSize: 2 });
    const records = Array.from({ length: 8 }, () => sampleRecord());
    const accepted = records.map((record) => collector.enqueue(record));
    assert.deepEqual(accepted, [true, true, true, true, true, false, false, false]);
    assert.equal(counter('usageEnqueueErrorsTotal'), 3);
    assert.equal(counter('usagePublishTotal', { outcome: 'dropped' }), 3);
    assert.equal(collector.stats().dropped, 3);
    const lost = lines.find((line) => line.message === 'usage records lost: the usage queue is full');
    assert.ok(lost, 'the loss is logged');
    assert.equal(lost.request_id, records[5]!.requestId);
    store.failure = undefined;
    await until(() => store.rows.length === 5, 'the queued records written');
    assert.deepEqual(
      requestIds(store.rows),
      records.slice(0, 5).map((record) => record.requestId),
    );
  });

  test('a record the store refuses is isolated and dropped; the rest of its batch is written', async () => {
    const store = new ScriptedStore();
    const records = Array.from({ length: 9 }, () => sampleRecord());
    store.refused.add(records[6]!.requestId);
    const { collector, counter, lines } = collectorWith(store, { batchSize: 9 });
    for (const record of records) collector.enqueue(record);
    await until(() => store.rows.length === 8, 'the other records written');
    assert.deepEqual(
      requestIds(store.rows),
      records.filter((_, index) => index !== 6).map((record) => record.requestId),
    );
    assert.equal(counter('usageIngestErrorsTotal'), 1);
    assert.equal(counter('usageFlushErrorsTotal'), 0, 'a data error is not an outage');
    assert.ok(lines.some((line) => line.request_id === records[6]!.requestId));
  });

  test('drain writes everything queued before it resolves, and refuses records afterwards', async () => {
    const store = new ScriptedStore();
    const { collector, counter } = collectorWith(store, { batchSize: 1_000, flushIntervalMs: 60_000 });
    for (let index = 0; index < 25; index += 1) collector.enqueue(sampleRecord());
    assert.equal(store.rows.length, 0, 'nothing written yet: the interval is a minute');
    const result = await collector.drain(2_000);
    assert.deepEqual(result, { written: 25, lost: 0 });
    assert.equal(store.rows.length, 25);
    assert.equal(collector.enqueue(sampleRecord()), false);
    assert.equal(counter('usageEnqueueErrorsTotal'), 1);
  });

  test('drain retries while the store is down and reports what it could not write at the deadline', async () => {
    const store = new ScriptedStore();
    store.failure = new Error('database down');
    const { collector, lines } = collectorWith(store);
    for (let index = 0; index < 3; index += 1) collector.enqueue(sampleRecord());
    setTimeout(() => {
      store.failure = undefined;
    }, 100);
    assert.deepEqual(await collector.drain(3_000), { written: 3, lost: 0 });

    const down = new ScriptedStore();
    down.failure = new Error('database down');
    const second = collectorWith(down);
    second.collector.enqueue(sampleRecord());
    const result = await second.collector.drain(150);
    assert.deepEqual(result, { written: 0, lost: 1 });
    assert.ok(
      second.lines.some((line) => line.lost === 1 && String(line.message).includes('lost at shutdown')),
    );
    assert.ok(down.attempts >= 2, 'it retried within the deadline');
    void lines;
  });

  test('a write that hangs past the write timeout is retried, idempotently', async () => {
    const store = new ScriptedStore();
    store.hangNext = true;
    const { collector, counter } = collectorWith(store, { writeTimeoutMs: 50 });
    collector.enqueue(sampleRecord());
    await until(() => store.rows.length === 1, 'the retried write');
    assert.equal(counter('usageFlushErrorsTotal'), 1);
    assert.deepEqual(store.writes, ['staged']);
  });

  test('a write stored but whose answer was lost is retried through staging and stored once', async () => {
    const store = new ScriptedStore();
    store.loseNextAnswer = true;
    const { collector, counter } = collectorWith(store, { batchSize: 3, flushIntervalMs: 60_000 });
    const first = Array.from({ length: 3 }, () => sampleRecord());
    for (const record of first) collector.enqueue(record);
    await until(() => counter('usageFlushErrorsTotal') === 1, 'the failed write');
    const later = Array.from({ length: 3 }, () => sampleRecord());
    for (const record of later) collector.enqueue(record);
    await until(() => collector.depth === 0, 'every record written');
    assert.deepEqual(
      requestIds(store.rows),
      [...first, ...later].map((record) => record.requestId),
    );
    // The batch that may have been stored went the idempotent way; the next one straight in.
    assert.deepEqual(store.writes, ['copy', 'staged', 'copy']);
    assert.equal(counter('usageFlushedTotal'), 6);
  });
});

describe('usage collector spans and request contexts', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  before(() => {
    trace.setGlobalTracerProvider(provider);
  });
  after(async () => {
    await provider.shutdown();
    trace.disable();
  });

  function finishedContext(endpoint: Endpoint = endpoints.chatCompletions): RequestContext {
    const context = chatCompletionsContext(`req-${Math.random().toString(36).slice(2)}`, { endpoint });
    context.outcome.status = 200;
    return context;
  }

  test('gateway.usage.collect under the root span, gateway.publish.usage under it', async () => {
    exporter.reset();
    const store = new ScriptedStore();
    const { collector } = collectorWith(store);
    const root = trace.getTracer('test').startSpan('http.request', {}, ROOT_CONTEXT);
    const context = finishedContext();
    context.span = root;
    context.traceId = root.spanContext().traceId;
    collector.record(context);
    root.end();
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const collect = spans.find((span) => span.name === 'gateway.usage.collect');
    const publish = spans.find((span) => span.name === 'gateway.publish.usage');
    assert.ok(collect && publish, spans.map((span) => span.name).join(', '));
    assert.equal(collect.spanContext().traceId, root.spanContext().traceId);
    assert.equal(collect.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(publish.parentSpanContext?.spanId, collect.spanContext().spanId);
    assert.equal(collect.attributes['gateway.request_id'], context.requestId);
    assert.equal(publish.attributes['gateway.usage.publisher'], 'database');
    await collector.drain(1_000);
    assert.equal(store.rows[0]!.trace_id, root.spanContext().traceId);
  });

  test('under an unsampled root no usage spans are made, and the record keeps the trace id', async () => {
    exporter.reset();
    const store = new ScriptedStore();
    const { collector } = collectorWith(store, { queueCapacity: 1, flushIntervalMs: 60_000 });
    // What the SDK hands out for a trace its sampler dropped: a non-recording span, flags 00.
    const root = trace.wrapSpanContext({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.NONE,
    });
    const context = finishedContext();
    context.span = root;
    context.traceId = root.spanContext().traceId;
    collector.record(context);
    for (let index = 0; index < 2; index += 1) {
      const lost = finishedContext();
      lost.span = root;
      collector.record(lost);
    }
    await provider.forceFlush();
    const names = exporter.getFinishedSpans().map((span) => span.name);
    assert.deepEqual(names, [], 'not for a written record, nor for a lost one');
    assert.equal(collector.stats().dropped, 2);
    await collector.drain(1_000);
    assert.equal(store.rows.length, 1);
    assert.equal(store.rows[0]!.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(store.rows[0]!.request_id, context.requestId);
  });

  test('a lost record marks gateway.publish.usage as failed', async () => {
    exporter.reset();
    const { collector } = collectorWith(new ScriptedStore(), { queueCapacity: 1, flushIntervalMs: 60_000 });
    collector.record(finishedContext());
    collector.record(finishedContext());
    await provider.forceFlush();
    const published = exporter.getFinishedSpans().filter((span) => span.name === 'gateway.publish.usage');
    assert.equal(published.length, 2);
    assert.equal(published[1]!.attributes['error.class'], 'usage_queue_full');
    assert.equal(published[1]!.status.code, 2);
  });

  test('probes, scrapes and usage API reads are not recorded; a malformed context is an ingest error', () => {
    const { collector, counter } = collectorWith(new ScriptedStore(), { flushIntervalMs: 60_000 });
    collector.record(finishedContext(endpoints.health));
    collector.record(finishedContext(endpoints.metrics));
    collector.record(finishedContext(endpoints.usage));
    assert.equal(collector.depth, 0);
    const broken = finishedContext();
    (broken.outcome as { attempts: unknown }).attempts = undefined;
    collector.record(broken);
    assert.equal(collector.depth, 0);
    assert.equal(counter('usageIngestErrorsTotal'), 1);
    assert.equal(counter('usagePublishTotal', { outcome: 'failed' }), 1);
  });
});
