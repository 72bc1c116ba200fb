import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { type MetricsRecorder, noopMetrics } from './metrics.ts';
import { loadObservabilitySettings } from './observability-settings.ts';
import { startTracing } from './tracing.ts';

test('every sampled span is accounted for in the trace_export pool: exported, or dropped when the queue is full', async () => {
  // A Collector that holds its answers until released: the first export stays in flight, the
  // processor (one export at a time) queues what follows, up to its 4,096 spans.
  const held: ServerResponse[] = [];
  let holding = true;
  const collector = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (holding) held.push(response);
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

  const tasks = new Map<string, number>();
  let deepestQueue = 0;
  const metrics: MetricsRecorder = {
    ...noopMetrics,
    increment(metric, labels, value = 1) {
      const { async_pool_name, outcome } = (labels ?? {}) as Record<string, string>;
      if (metric === 'asyncTasksTotal' && async_pool_name === 'trace_export')
        tasks.set(outcome!, (tasks.get(outcome!) ?? 0) + value);
    },
    set(metric, value) {
      if (metric === 'asyncQueueDepth') deepestQueue = Math.max(deepestQueue, value);
    },
  };
  const tracing = await startTracing(
    loadObservabilitySettings({
      OBSERVABILITY_OTEL_TRACES_EXPORTER: 'otlphttp',
      OBSERVABILITY_OTEL_ENDPOINT: endpoint,
      OBSERVABILITY_SAMPLE_RATE: '1',
    }),
    metrics,
  );
  try {
    const tracer = trace.getTracer('tracing-test');
    for (let index = 0; index < 5_000; index += 1) tracer.startSpan(`span-${index}`).end();
    // 128 in the export in flight, 4,096 waiting, the rest dropped as they ended.
    assert.equal(tasks.get('dropped'), 5_000 - 128 - 4_096);

    holding = false;
    for (const response of held.splice(0)) response.writeHead(200).end('{}');
    await tracing.forceFlush();
    assert.equal(tasks.get('success'), 128 + 4_096, 'every queued span was exported and counted');
    assert.equal(tasks.get('failed'), undefined);
    assert.ok(deepestQueue >= 4_096, `the queue depth counts the spans waiting (deepest ${deepestQueue})`);
  } finally {
    holding = false;
    for (const response of held.splice(0)) response.writeHead(200).end('{}');
    await tracing.shutdown();
    collector.closeAllConnections();
    await new Promise<void>((resolve) => collector.close(() => resolve()));
  }
});
