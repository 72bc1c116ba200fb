/**
 * The usage collector: the gateway's UsageStage. It turns every finished request into a usage
 * record OFF the request path (the call returns after an array push) and writes the records in
 * batches from a bounded in-memory queue.
 *
 * - Batching: one statement (COPY, or an INSERT on PGlite) once `batchSize` records wait, or
 *   `flushIntervalMs` after the first one arrived. One write at a time, so the store sees a
 *   steady trickle, not a burst.
 * - Store unavailable: the batch stays at the head of the queue and is retried with capped
 *   exponential backoff and jitter; new records keep queueing meanwhile. Records are removed
 *   only once a write is known to have succeeded, and the retry of a failed write is idempotent
 *   (usage-writer.ts), so a write that committed but whose answer was lost is not duplicated.
 * - Queue full: the record is lost, counted (`gateway_usage_enqueue_errors_total`) and logged.
 *   Never silently, and never by blocking or failing the request.
 * - A record the store refuses for its content (a data error, not an outage) is isolated by
 *   splitting the batch, so one bad record cannot block the queue; it is counted as an ingest error.
 * - Shutdown: `drain` writes everything queued (retrying while the deadline allows) and reports
 *   what, if anything, could not be written.
 *
 * Metrics are the usage pipeline series of the telemetry contract; spans are
 * `gateway.usage.collect` → `gateway.publish.usage` under the request's root span.
 */
import type { Logger } from 'pino';
import type { RequestContext } from '../gateway/request-context.ts';
import type { UsageStage } from '../gateway/stages.ts';
import { spanAttributes, spanNames } from '../observability/catalog.ts';
import { type MetricsRecorder, noopMetrics } from '../observability/metrics.ts';
import { markSpanFailed, startChildSpan } from '../observability/spans.ts';
import type { Database } from '../storage/database.ts';
import { isRecorded, toUsageRecord, type UsageRecord } from './usage-record.ts';
import { type UsageRowFormat, usageRowFormat } from './usage-writer.ts';

export interface UsageCollectorOptions {
  /** Where records are written (the gateway's database). */
  database: Database;
  logger: Logger;
  metrics?: MetricsRecorder;
  /** Records held in memory at most; beyond it a record is lost and counted. Default 10,000. */
  queueCapacity?: number;
  /** Records per write (one statement) at most. Default 500. */
  batchSize?: number;
  /** Longest wait before a partial batch is written. Default 200 ms. */
  flushIntervalMs?: number;
  /** Backoff after a failed write: doubles from the first delay up to the cap. Defaults 100 ms, 5 s. */
  retryInitialDelayMs?: number;
  retryMaximumDelayMs?: number;
  /** A write taking longer counts as failed (and is retried). Default 10 s. */
  writeTimeoutMs?: number;
  /** Names the store in the `gateway.usage.publisher` span attribute. Default 'database'. */
  publisher?: string;
  /** Called after each successful write (benchmarks read the flush delays from it). */
  onFlush?: (report: FlushReport) => void;
}

export interface FlushReport {
  readonly records: number;
  /** Per record: milliseconds from `record()` to the end of the write that stored it. */
  readonly delaysMs: readonly number[];
  readonly writeMs: number;
}

export interface UsageCollectorStats {
  enqueued: number;
  dropped: number;
  ingestErrors: number;
  flushed: number;
  flushErrors: number;
}

export interface DrainResult {
  /** Records written during the drain. */
  readonly written: number;
  /** Records still queued when the deadline passed (each logged as lost). */
  readonly lost: number;
}

interface Entry {
  /**
   * The record serialised as its row of the batch (the database's `UsageRowFormat`), as UTF-8
   * bytes `start` to `end` of a slab.
   */
  readonly slab: Buffer;
  readonly start: number;
  readonly end: number;
  readonly requestId: string;
  readonly enqueuedAt: number;
  /** A write of this record was attempted and failed: it may be stored, so it is retried idempotently. */
  attempted: boolean;
}

/** Looked up per use: a tracer kept from before the SDK was (re)installed would trace nowhere. */
/** Label sets recorded per request, built once (recorders never keep or change label objects). */
const enqueuedLabels = { outcome: 'enqueued' } as const;
const droppedLabels = { outcome: 'dropped' } as const;
/** At most one "records lost" log line per interval while the queue stays full. */
const dropLogIntervalMs = 5_000;
/**
 * Rows wait for their batch as UTF-8 bytes in slabs of this size, outside V8's heap. Kept as
 * strings, every queued row outlived two young-generation collections (a batch waits up to
 * `flushIntervalMs`), was copied twice by them and promoted to die in the old generation, and
 * the batch was joined into one more string the size of the batch to be sent.
 */
const slabBytes = 256 * 1024;

export class UsageCollector implements UsageStage {
  readonly #database: Database;
  readonly #format: UsageRowFormat;
  readonly #logger: Logger;
  readonly #metrics: MetricsRecorder;
  readonly #capacity: number;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #retryInitialDelayMs: number;
  readonly #retryMaximumDelayMs: number;
  readonly #writeTimeoutMs: number;
  readonly #publisher: string;
  readonly #onFlush: ((report: FlushReport) => void) | undefined;

  readonly #queue: Entry[] = [];
  /** The slab rows are appended to; a full one is left to the entries that point into it. */
  #slab = Buffer.allocUnsafeSlow(slabBytes);
  #slabUsed = 0;
  readonly #stats: UsageCollectorStats = {
    enqueued: 0,
    dropped: 0,
    ingestErrors: 0,
    flushed: 0,
    flushErrors: 0,
  };
  #timer: NodeJS.Timeout | undefined;
  #pumping: Promise<void> | undefined;
  /** Backoff before the next write after failures (jittered); 0 while writes succeed. */
  #retryDelayMs = 0;
  #retryBaseMs = 0;
  #draining = false;
  #closed = false;
  #droppedSinceLog = 0;
  #lastDropLogAt = Number.NEGATIVE_INFINITY;

  constructor(options: UsageCollectorOptions) {
    this.#database = options.database;
    this.#format = usageRowFormat(options.database);
    this.#logger = options.logger;
    this.#metrics = options.metrics ?? noopMetrics;
    this.#capacity = positive(options.queueCapacity ?? 10_000, 'queueCapacity');
    this.#batchSize = positive(options.batchSize ?? 500, 'batchSize');
    this.#flushIntervalMs = options.flushIntervalMs ?? 200;
    this.#retryInitialDelayMs = options.retryInitialDelayMs ?? 100;
    this.#retryMaximumDelayMs = options.retryMaximumDelayMs ?? 5_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 10_000;
    this.#publisher = options.publisher ?? 'database';
    this.#onFlush = options.onFlush;
    this.#metrics.set('usageQueueDepth', 0);
  }

  /** Records waiting to be written. */
  get depth(): number {
    return this.#queue.length;
  }

  stats(): Readonly<UsageCollectorStats> {
    return { ...this.#stats };
  }

  /** The UsageStage seat: called once per request when its response is over. Never throws. */
  record(context: RequestContext): void {
    if (!isRecorded(context)) return;
    const finishedAt = performance.now();
    // Under a root span whose trace is not sampled, startChildSpan makes no span: the
    // non-recording root stands in for both spans, and its end() and setters do nothing.
    const collect = startChildSpan(context.span, spanNames.usageCollect, () => ({
      [spanAttributes.requestId]: context.requestId,
      ...(context.principal === undefined
        ? {}
        : { [spanAttributes.organizationId]: context.principal.organizationId }),
    }));
    try {
      let row: string;
      try {
        row = this.#format.row(toUsageRecord(context, finishedAt));
      } catch (error) {
        this.#stats.ingestErrors += 1;
        this.#metrics.increment('usageIngestErrorsTotal');
        this.#metrics.increment('usagePublishTotal', { outcome: 'failed' });
        this.#logger.error({ request_id: context.requestId, err: error }, 'usage record could not be built');
        markSpanFailed(collect, undefined, 'usage_ingest_error');
        return;
      }
      const publish = startChildSpan(collect, spanNames.publishUsage, () => ({
        [spanAttributes.usagePublisher]: this.#publisher,
      }));
      if (!this.#enqueueRow(row, context.requestId)) markSpanFailed(publish, undefined, 'usage_queue_full');
      publish.end();
    } finally {
      collect.end();
    }
  }

  /**
   * Queues a built record (serialised to its row here; a record JSON cannot represent throws);
   * false when it was lost (queue full or collector closed).
   */
  enqueue(record: UsageRecord): boolean {
    return this.#enqueueRow(this.#format.row(record), record.requestId);
  }

  /** Queues a record as its row (built once, its UTF-8 bytes copied into the current slab). */
  #enqueueRow(row: string, requestId: string): boolean {
    if (this.#closed || this.#queue.length >= this.#capacity) {
      this.#stats.dropped += 1;
      this.#metrics.increment('usageEnqueueErrorsTotal');
      this.#metrics.increment('usagePublishTotal', droppedLabels);
      this.#logDrop(requestId);
      return false;
    }
    // At most three bytes of UTF-8 per UTF-16 unit: a row that might not fit starts a new slab
    // (one of its own when it is larger than a slab).
    const longest = row.length * 3;
    let slab = this.#slab;
    let start = this.#slabUsed;
    if (start + longest > slab.length) {
      slab = Buffer.allocUnsafeSlow(Math.max(slabBytes, longest));
      start = 0;
      if (longest <= slabBytes) this.#slab = slab;
    }
    const end = start + slab.write(row, start);
    if (slab === this.#slab) this.#slabUsed = end;
    this.#queue.push({ slab, start, end, requestId, enqueuedAt: performance.now(), attempted: false });
    this.#stats.enqueued += 1;
    this.#metrics.increment('usagePublishTotal', enqueuedLabels);
    this.#metrics.set('usageQueueDepth', this.#queue.length);
    this.#schedule();
    return true;
  }

  /** Writes what is queued now (a failed write stays queued for the retry). Tests and tools call it. */
  async flush(): Promise<void> {
    await this.#pumping;
    this.#clearTimer();
    await this.#runPump(true);
    if (this.#queue.length > 0) this.#schedule();
  }

  /**
   * Writes everything queued, retrying failed writes until `deadlineMs` has passed, then stops
   * taking records. Records arriving meanwhile (responses still closing) are written too. What
   * is still queued at the deadline is logged as lost.
   */
  async drain(deadlineMs: number): Promise<DrainResult> {
    const deadline = performance.now() + deadlineMs;
    const flushedBefore = this.#stats.flushed;
    this.#draining = true;
    this.#clearTimer();
    await this.#pumping;
    while (this.#queue.length > 0 && performance.now() < deadline) {
      await this.#runPump(true);
      if (this.#queue.length === 0) break;
      const wait = Math.min(this.#retryDelayMs, deadline - performance.now());
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    this.#closed = true;
    this.#clearTimer();
    const lost = this.#queue.length;
    const written = this.#stats.flushed - flushedBefore;
    if (lost > 0) {
      this.#logger.error(
        { lost, written, request_ids: this.#queue.slice(0, 20).map((entry) => entry.requestId) },
        'usage records lost at shutdown: the store did not accept them before the deadline',
      );
    } else {
      this.#logger.info({ written }, 'usage records drained');
    }
    return { written, lost };
  }

  #schedule(): void {
    if (this.#pumping !== undefined || this.#draining || this.#closed) return;
    if (this.#queue.length >= this.#batchSize && this.#retryDelayMs === 0) {
      this.#clearTimer();
      this.#start(0);
    } else if (this.#timer === undefined) {
      this.#start(this.#retryDelayMs > 0 ? this.#retryDelayMs : this.#flushIntervalMs);
    }
  }

  #start(delayMs: number): void {
    // Unref'd: the queue alone must not keep a process alive; shutdown drains it explicitly.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#pumping !== undefined || this.#draining || this.#closed) return;
      this.#runPump(false).then(
        () => {
          if (this.#queue.length > 0) this.#schedule();
        },
        (error: unknown) => this.#logger.error({ err: error }, 'usage collector failed'),
      );
    }, delayMs);
    this.#timer.unref();
  }

  /** One pump at a time: `#pumping` is the running one, cleared when it settles. */
  #runPump(everything: boolean): Promise<void> {
    const run: Promise<void> = this.#pump(everything).finally(() => {
      if (this.#pumping === run) this.#pumping = undefined;
    });
    this.#pumping = run;
    return run;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Writes batches from the head of the queue while full batches wait (or, when `everything`,
   * until the queue is empty). Stops at the first failed write, leaving the batch queued.
   */
  async #pump(everything: boolean): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#batchSize);
      const startedAt = performance.now();
      try {
        await this.#writeIsolating(batch);
      } catch (error) {
        this.#stats.flushErrors += 1;
        this.#metrics.increment('usageFlushErrorsTotal');
        this.#retryBaseMs = Math.min(
          this.#retryMaximumDelayMs,
          this.#retryBaseMs === 0 ? this.#retryInitialDelayMs : this.#retryBaseMs * 2,
        );
        // Jitter, so replicas that lost the same database do not retry in step.
        this.#retryDelayMs = Math.round(this.#retryBaseMs * (0.75 + Math.random() * 0.5));
        this.#logger.warn(
          { err: error, queued: this.#queue.length, retry_in_ms: this.#retryDelayMs },
          'usage records write failed; retrying',
        );
        return;
      }
      this.#retryDelayMs = 0;
      this.#retryBaseMs = 0;
      const finishedAt = performance.now();
      this.#onFlush?.({
        records: batch.length,
        delaysMs: batch.map((entry) => finishedAt - entry.enqueuedAt),
        writeMs: finishedAt - startedAt,
      });
      if (!everything && this.#queue.length < this.#batchSize) return;
    }
  }

  /**
   * Writes `batch` (the head of the queue). A data error the store will never accept is
   * narrowed down by halving until the offending record is alone; it is then dropped and
   * counted. Any other failure (connection, timeout) is thrown for the caller to retry.
   */
  async #writeIsolating(batch: Entry[]): Promise<void> {
    // A batch holding a record an earlier write may have stored goes the idempotent way.
    const retry = batch.some((entry) => entry.attempted);
    try {
      await this.#write(
        batch.map((entry) => entry.slab.subarray(entry.start, entry.end)),
        retry,
      );
      this.#removeHead(batch, 'flushed');
    } catch (error) {
      for (const entry of batch) entry.attempted = true;
      if (!isPermanentDataError(error)) throw error;
      if (batch.length === 1) {
        this.#removeHead(batch, 'rejected');
        this.#logger.error(
          { request_id: batch[0]!.requestId, err: error },
          'usage record refused by the store; dropped',
        );
        return;
      }
      const middle = Math.ceil(batch.length / 2);
      await this.#writeIsolating(batch.slice(0, middle));
      await this.#writeIsolating(batch.slice(middle));
    }
  }

  async #write(rows: Buffer[], retry: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`usage write timed out after ${this.#writeTimeoutMs} ms`)),
        this.#writeTimeoutMs,
      );
    });
    try {
      await Promise.race([this.#format.write(this.#database, rows, retry), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Entries leave the queue only from its head, in order: only the pump removes them. */
  #removeHead(entries: Entry[], as: 'flushed' | 'rejected'): void {
    if (this.#queue[0] !== entries[0]) throw new Error('usage queue out of order');
    this.#queue.splice(0, entries.length);
    if (as === 'flushed') {
      this.#stats.flushed += entries.length;
      this.#metrics.increment('usageFlushedTotal', undefined, entries.length);
    } else {
      this.#stats.ingestErrors += entries.length;
      this.#metrics.increment('usageIngestErrorsTotal', undefined, entries.length);
    }
    this.#metrics.set('usageQueueDepth', this.#queue.length);
  }

  #logDrop(requestId: string): void {
    this.#droppedSinceLog += 1;
    const now = performance.now();
    if (now - this.#lastDropLogAt < dropLogIntervalMs) return;
    this.#logger.error(
      {
        lost: this.#droppedSinceLog,
        lost_total: this.#stats.dropped,
        request_id: requestId,
        queue_capacity: this.#capacity,
        reason: this.#closed ? 'collector_closed' : 'queue_full',
      },
      'usage records lost: the usage queue is full',
    );
    this.#droppedSinceLog = 0;
    this.#lastDropLogAt = now;
  }
}

/**
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the store
 * refuses the content, and will refuse it again. Everything else (connection failures, class 08;
 * shutdown, 57P; a timeout; a missing table) may pass on a later attempt.
 */
export function isPermanentDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}
