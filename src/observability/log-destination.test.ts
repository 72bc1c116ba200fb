import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BoundedLogDestination, fileSink, type LogSink } from './log-destination.ts';
import type { MetricsRecorder } from './metrics.ts';

function countingMetrics() {
  const counts: Record<string, number> = {};
  const observed: Record<string, number[]> = {};
  const recorder: MetricsRecorder = {
    increment: (metric, _labels, value = 1) => {
      counts[metric] = (counts[metric] ?? 0) + value;
    },
    observe: (metric, value) => {
      const values = observed[metric] ?? [];
      values.push(value);
      observed[metric] = values;
    },
    set: (metric, value) => {
      counts[metric] = value;
    },
    adjust: () => {},
  };
  return { recorder, counts, observed };
}

/** A sink that holds every write until released: a stdout nobody reads. */
function stalledSink() {
  const written: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const sink: LogSink = {
    write: async (text) => {
      await gate;
      written.push(text);
    },
    writeSync: (text) => written.push(text),
    close: async () => {},
  };
  return { sink, written, release };
}

describe('BoundedLogDestination', () => {
  test('a stalled output never blocks the writer: past the bound lines are dropped and counted', async () => {
    const { recorder, counts } = countingMetrics();
    const { sink, written, release } = stalledSink();
    const destination = new BoundedLogDestination({ sinks: [sink], metrics: recorder, maxQueueBytes: 1_000 });
    const line = `${'x'.repeat(99)}\n`;
    const started = performance.now();
    for (let index = 0; index < 100; index += 1) destination.write(line);
    assert.ok(performance.now() - started < 1_000, 'write returns at once');
    assert.equal(counts.logsEnqueuedTotal, 10);
    assert.equal(counts.logsDroppedTotal, 90);
    release();
    await destination.flush();
    assert.equal(written.join(''), line.repeat(10));
  });

  test('writes in batches and records batch size, flush duration and queue depth', async () => {
    const { recorder, counts, observed } = countingMetrics();
    const written: string[] = [];
    const destination = new BoundedLogDestination({
      sinks: [{ write: async (text) => void written.push(text), writeSync: () => {}, close: async () => {} }],
      metrics: recorder,
      maxBatchLines: 4,
    });
    for (let index = 0; index < 10; index += 1) destination.write(`line ${index}\n`);
    await destination.flush();
    assert.deepEqual(observed.logsBatchSize, [4, 4, 2]);
    assert.equal(observed.logsFlushDuration?.length, 3);
    assert.equal(counts.logsQueueDepth, 0);
    assert.equal(written.join(''), Array.from({ length: 10 }, (_, index) => `line ${index}\n`).join(''));
  });

  test('lines written within the flush delay share one write; flush() does not wait for it', async () => {
    const { recorder } = countingMetrics();
    const written: string[] = [];
    const destination = new BoundedLogDestination({
      sinks: [{ write: async (text) => void written.push(text), writeSync: () => {}, close: async () => {} }],
      metrics: recorder,
      flushDelayMs: 50,
    });
    destination.write('a\n');
    await new Promise((resolve) => setTimeout(resolve, 10));
    destination.write('b\n');
    assert.deepEqual(written, [], 'nothing written before the delay');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(written, ['a\nb\n'], 'one write for both lines');
    destination.write('c\n');
    const started = performance.now();
    await destination.flush();
    assert.deepEqual(written, ['a\nb\n', 'c\n']);
    assert.ok(performance.now() - started < 40, 'flush wrote at once');
  });

  test('a failing output is counted as write errors, and the other output still gets the lines', async () => {
    const { recorder, counts } = countingMetrics();
    const written: string[] = [];
    const destination = new BoundedLogDestination({
      sinks: [
        { write: async () => Promise.reject(new Error('EPIPE')), writeSync: () => {}, close: async () => {} },
        { write: async (text) => void written.push(text), writeSync: () => {}, close: async () => {} },
      ],
      metrics: recorder,
    });
    destination.write('a\n');
    await destination.flush();
    assert.equal(counts.logsWriteErrorsTotal, 1);
    assert.deepEqual(written, ['a\n']);
  });

  test('the file output rotates by size and keeps a bounded number of files', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'odock-rotate-'));
    try {
      const sink = fileSink({ directory, maxFileBytes: 100, keepFiles: 2 });
      for (let index = 0; index < 10; index += 1) await sink.write(`${String(index).repeat(59)}\n`);
      await sink.close();
      const files = (await readdir(directory)).sort();
      assert.deepEqual(files, ['odock-server.log', 'odock-server.log.1', 'odock-server.log.2']);
      assert.equal(await readFile(join(directory, 'odock-server.log'), 'utf8'), `${'9'.repeat(59)}\n`);
      assert.equal(await readFile(join(directory, 'odock-server.log.1'), 'utf8'), `${'8'.repeat(59)}\n`);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
