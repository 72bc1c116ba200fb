/**
 * The logger's asynchronous pipeline (telemetry contract section 5): log lines go into a
 * bounded in-process queue and are written in batches (at most `flushDelayMs` after the first
 * line of a batch), so the request path never waits on a slow stdout. A full queue drops the
 * line and counts it (`gateway_logs_dropped_total`); the other logger pipeline metrics
 * (enqueued, write errors, batch size, queue depth, flush duration) describe the same queue.
 * `LOGGER_OUTPUT=stdout,file` adds a rotating file; the file supplements stdout, never replaces it.
 */
import { closeSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetricsRecorder } from './metrics.ts';

export interface LogSink {
  write(text: string): Promise<void>;
  /** Last-chance synchronous write at exit. */
  writeSync(text: string): void;
  close(): Promise<void>;
}

export interface BoundedLogDestinationOptions {
  sinks: readonly LogSink[];
  metrics: MetricsRecorder;
  /** Queue bound in bytes of pending log text. */
  maxQueueBytes?: number;
  maxBatchLines?: number;
  /**
   * How long a line may wait for others to share its write (default 10 ms). At a few hundred
   * requests per second each line used to get a write of its own (a batch per event-loop turn);
   * waiting 10 ms makes one write of several lines, about 8-15 % less CPU per request at 700
   * requests/s (docs/performance-history.md). `flush()` and the exit paths do not wait.
   */
  flushDelayMs?: number;
}

export class BoundedLogDestination {
  readonly #sinks: readonly LogSink[];
  readonly #metrics: MetricsRecorder;
  readonly #maxQueueBytes: number;
  readonly #maxBatchLines: number;
  readonly #flushDelayMs: number;
  #queue: string[] = [];
  #queuedBytes = 0;
  #flushing: Promise<void> | undefined;
  #scheduled = false;

  constructor(options: BoundedLogDestinationOptions) {
    this.#sinks = options.sinks;
    this.#metrics = options.metrics;
    this.#maxQueueBytes = options.maxQueueBytes ?? 8 * 1024 * 1024;
    this.#maxBatchLines = options.maxBatchLines ?? 1_000;
    this.#flushDelayMs = options.flushDelayMs ?? 10;
  }

  /** Called by pino with one serialized line (newline included). Never blocks. */
  write(line: string): void {
    if (this.#queuedBytes + line.length > this.#maxQueueBytes) {
      this.#metrics.increment('logsDroppedTotal');
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#metrics.increment('logsEnqueuedTotal');
    if (!this.#scheduled && this.#flushing === undefined) {
      this.#scheduled = true;
      setTimeout(() => {
        this.#scheduled = false;
        this.#startFlush();
      }, this.#flushDelayMs);
    }
  }

  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Resolves when everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushing !== undefined) {
      if (this.#flushing === undefined) this.#startFlush();
      await this.#flushing;
    }
  }

  /** Synchronous drain for process exit paths where no event loop turn is left. */
  flushSync(): void {
    const text = this.#queue.join('');
    this.#queue = [];
    this.#queuedBytes = 0;
    if (text.length === 0) return;
    for (const sink of this.#sinks) {
      try {
        sink.writeSync(text);
      } catch {
        this.#metrics.increment('logsWriteErrorsTotal');
      }
    }
  }

  async close(): Promise<void> {
    await this.flush();
    await Promise.all(this.#sinks.map((sink) => sink.close().catch(() => {})));
  }

  #startFlush(): void {
    if (this.#flushing !== undefined || this.#queue.length === 0) return;
    this.#flushing = this.#flushBatches().finally(() => {
      this.#flushing = undefined;
    });
  }

  async #flushBatches(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch =
        this.#queue.length <= this.#maxBatchLines ? this.#queue : this.#queue.slice(0, this.#maxBatchLines);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
      const text = batch.join('');
      this.#queuedBytes -= text.length;
      this.#metrics.set('logsQueueDepth', this.#queue.length);
      this.#metrics.observe('logsBatchSize', batch.length);
      const started = performance.now();
      const results = await Promise.allSettled(this.#sinks.map((sink) => sink.write(text)));
      for (const result of results)
        if (result.status === 'rejected') this.#metrics.increment('logsWriteErrorsTotal');
      this.#metrics.observe('logsFlushDuration', (performance.now() - started) / 1000);
    }
    this.#metrics.set('logsQueueDepth', 0);
  }
}

/** stdout through the process stream (asynchronous for pipes and files on Linux). */
export function stdoutSink(stream: NodeJS.WritableStream = process.stdout): LogSink {
  return {
    write: (text) =>
      new Promise((resolve, reject) => {
        stream.write(text, (error) => (error ? reject(error) : resolve()));
      }),
    writeSync: (text) => {
      if (stream === process.stdout) writeSync(1, text);
      else stream.write(text);
    },
    close: async () => {},
  };
}

export interface FileSinkOptions {
  directory: string;
  fileName?: string;
  /** Rotate when the file passes this size. */
  maxFileBytes?: number;
  /** Rotated files kept beside the current one (`.1` newest). */
  keepFiles?: number;
}

/** A log file with size-based rotation: `odock-server.log`, `.log.1`, ... `.log.N`. */
export function fileSink(options: FileSinkOptions): LogSink {
  const maxFileBytes = options.maxFileBytes ?? 50 * 1024 * 1024;
  const keepFiles = options.keepFiles ?? 5;
  const path = join(options.directory, options.fileName ?? 'odock-server.log');
  // Fail at start, with the path, when the directory is not writable (contract: must be writable).
  mkdirSync(options.directory, { recursive: true });
  closeSync(openSync(path, 'a'));
  let size = statSync(path).size;
  let handle: Promise<FileHandle> | undefined;

  const rotate = async () => {
    if (handle !== undefined) await (await handle).close();
    handle = undefined;
    for (let index = keepFiles - 1; index >= 1; index -= 1)
      await rename(`${path}.${index}`, `${path}.${index + 1}`).catch(() => {});
    await rename(path, `${path}.1`).catch(() => {});
    size = 0;
  };
  return {
    async write(text) {
      if (size > 0 && size + text.length > maxFileBytes) await rotate();
      handle ??= open(path, 'a');
      await (await handle).appendFile(text);
      size += Buffer.byteLength(text);
    },
    writeSync(text) {
      if (size > 0 && size + text.length > maxFileBytes) {
        for (let index = keepFiles - 1; index >= 1; index -= 1) {
          try {
            renameSync(`${path}.${index}`, `${path}.${index + 1}`);
          } catch {}
        }
        renameSync(path, `${path}.1`);
        size = 0;
      }
      const fd = openSync(path, 'a');
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      size += Buffer.byteLength(text);
    },
    async close() {
      if (handle !== undefined) await (await handle).close();
      handle = undefined;
    },
  };
}
