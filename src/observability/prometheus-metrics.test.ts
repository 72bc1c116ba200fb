/**
 * The /metrics recorder writes to prom-client's stored values directly instead of calling
 * `inc`/`observe`/`set` per recording. These tests hold it to printing exactly what prom-client
 * alone prints for the same recordings, including values prom-client refuses, a registry reset,
 * and every tenant-label mode.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type MetricDefinition, type MetricKey, metricCatalog } from './catalog.ts';
import type { MetricsRecorder } from './metrics.ts';
import type { TenantLabelMode } from './observability-settings.ts';
import { effectiveLabels, PrometheusMetricsRecorder } from './prometheus-metrics.ts';

type AnyLabels = Record<string, string | undefined> | undefined;

/** The reference: every recording through prom-client's public API, labels as the recorder passes them. */
function referenceRecorder(registry: Registry, mode: TenantLabelMode): MetricsRecorder {
  const metrics = new Map<MetricKey, { metric: Counter | Gauge | Histogram; names: readonly string[] }>();
  for (const [key, definition] of Object.entries(metricCatalog) as Array<[MetricKey, MetricDefinition]>) {
    const names = effectiveLabels(definition, mode);
    const configuration = {
      name: definition.name,
      help: definition.description,
      labelNames: [...names],
      registers: [registry],
    };
    const metric =
      definition.type === 'counter'
        ? new Counter(configuration)
        : definition.type === 'histogram'
          ? new Histogram({ ...configuration, buckets: [...(definition.buckets ?? [])] })
          : new Gauge(configuration);
    metrics.set(key, { metric, names });
  }
  const labelled = (key: MetricKey, labels: AnyLabels) => {
    const { metric, names } = metrics.get(key)!;
    const values: Record<string, string> = {};
    for (const name of names) values[name] = labels?.[name] ?? '';
    return { metric, values, unlabelled: names.length === 0 };
  };
  return {
    increment(key, labels, value = 1) {
      const { metric, values, unlabelled } = labelled(key, labels as AnyLabels);
      if (unlabelled) (metric as Counter).inc(value);
      else (metric as Counter).inc(values, value);
    },
    observe(key, value, labels) {
      const { metric, values, unlabelled } = labelled(key, labels as AnyLabels);
      if (unlabelled) (metric as Histogram).observe(value);
      else (metric as Histogram).observe(values, value);
    },
    set(key, value, labels) {
      const { metric, values, unlabelled } = labelled(key, labels as AnyLabels);
      if (unlabelled) (metric as Gauge).set(value);
      else (metric as Gauge).set(values, value);
    },
    adjust(key, delta, labels) {
      const { metric, values, unlabelled } = labelled(key, labels as AnyLabels);
      if (unlabelled) (metric as Gauge).inc(delta);
      else (metric as Gauge).inc(values, delta);
    },
  };
}

/** A deterministic pseudo-random sequence (the same recordings for both recorders). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

/** Runs `record` on both recorders; a throw must happen on both, with the same message. */
function both(recorders: MetricsRecorder[], record: (recorder: MetricsRecorder) => void): void {
  const outcomes = recorders.map((recorder) => {
    try {
      record(recorder);
      return 'ok';
    } catch (error) {
      return `threw ${(error as Error).message}`;
    }
  });
  assert.equal(outcomes[0], outcomes[1]);
}

function workload(recorders: MetricsRecorder[], seed: number, count: number): void {
  const next = random(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
  const routes = ['/v1/chat/completions', '/v1/embeddings', '/v1/messages'];
  const providers = ['openai', 'anthropic', 'gemini'];
  const models = ['gpt-4o-mini', 'claude-sonnet', 'unknown'];
  const statuses = ['2xx', '4xx', '5xx'];
  // Bucket bounds themselves, values between and beyond them, zero and negative values.
  const seconds = [0, 0.0001, 0.00012, 0.005, 0.0051, 0.25, 1, 2.5, 30, 119.9, 120, 121, 1_000, -1];
  for (let index = 0; index < count; index += 1) {
    // Every random value is drawn once, outside the recordings both recorders make.
    const route = pick(routes);
    const endpoint = pick(['chat_completions', 'embeddings', 'messages']);
    const provider = pick(providers);
    const model = pick(models);
    const request = { route, endpoint, status_class: pick(statuses), stream: pick(['true', 'false']) };
    const tenant = {
      provider,
      model,
      organization_id: pick(['org-a', 'org-b']),
      api_key_id: pick(['k1', 'k2']),
    };
    const duration = pick(seconds);
    const overhead = pick(seconds);
    const providerStatus = pick(statuses);
    const attempts = pick([1, 2, 3, 9]);
    const tokens = { ...tenant, token_class: pick(['input', 'output']) };
    const tokenCount = pick([1, 17, 400]);
    const cost = next() / 1_000;
    const depth = Math.floor(next() * 50);
    const flushed = pick([1, 5, 500]);
    const poolDepth = pick([0, 3, 7]);
    both(recorders, (recorder) => recorder.adjust('requestsInFlight', 1, { route }));
    both(recorders, (recorder) => recorder.increment('requestsTotal', request));
    both(recorders, (recorder) => recorder.observe('requestDuration', duration, request));
    both(recorders, (recorder) => recorder.observe('overheadDuration', overhead, { route, endpoint }));
    both(recorders, (recorder) =>
      recorder.increment('providerRequestsTotal', {
        provider,
        model,
        endpoint,
        status_class: providerStatus,
      }),
    );
    both(recorders, (recorder) => recorder.observe('routingAttempts', attempts));
    both(recorders, (recorder) => recorder.increment('routingDecisionsTotal', { decision: 'direct' }));
    both(recorders, (recorder) => recorder.increment('tokensTotal', tokens, tokenCount));
    both(recorders, (recorder) =>
      recorder.increment('costUsdTotal', { provider, model, organization_id: 'org-a' }, cost),
    );
    both(recorders, (recorder) => recorder.set('usageQueueDepth', depth));
    both(recorders, (recorder) => recorder.increment('usageFlushedTotal', undefined, flushed));
    both(recorders, (recorder) => recorder.increment('usagePublishTotal', { outcome: 'enqueued' }));
    both(recorders, (recorder) =>
      recorder.set('asyncQueueDepth', poolDepth, { async_pool_name: 'trace_export' }),
    );
    // A label left out is recorded as '' by both.
    both(recorders, (recorder) => recorder.increment('streamSessionsTotal', { provider } as never));
    both(recorders, (recorder) => recorder.adjust('requestsInFlight', -1, { route }));
  }
}

describe('PrometheusMetricsRecorder', () => {
  for (const mode of ['organization,api_key', 'organization', 'none'] as TenantLabelMode[]) {
    test(`prints exactly what prom-client prints for the same recordings (tenant labels ${mode})`, async () => {
      const expected = new Registry();
      const actual = new Registry();
      const recorders = [referenceRecorder(expected, mode), new PrometheusMetricsRecorder(actual, mode)];
      workload(recorders, 7, 2_000);
      assert.equal(await actual.metrics(), await expected.metrics());
    });
  }

  test('values prom-client refuses throw as before, and odd ones are stored as prom-client stores them', async () => {
    const expected = new Registry();
    const actual = new Registry();
    const recorders = [
      referenceRecorder(expected, 'organization,api_key'),
      new PrometheusMetricsRecorder(actual, 'organization,api_key'),
    ];
    const labels = {
      route: '/v1/chat/completions',
      endpoint: 'chat_completions',
      status_class: '2xx',
      stream: 'false',
    };
    for (const value of [1, -1, Number.POSITIVE_INFINITY, Number.NaN, 0, 2.5]) {
      both(recorders, (recorder) => recorder.increment('requestsTotal', labels, value));
      both(recorders, (recorder) => recorder.observe('requestDuration', value, labels));
      both(recorders, (recorder) => recorder.set('usageQueueDepth', value));
      both(recorders, (recorder) => recorder.adjust('requestsInFlight', value, { route: labels.route }));
      both(recorders, (recorder) => recorder.observe('routingAttempts', value));
      both(recorders, (recorder) => recorder.increment('usageFlushedTotal', undefined, value));
    }
    assert.throws(() => recorders[1]!.increment('requestsTotal', labels, -1), /decrease a counter/);
    assert.equal(await actual.metrics(), await expected.metrics());
  });

  test('a registry reset starts every series again, as in prom-client', async () => {
    const expected = new Registry();
    const actual = new Registry();
    const recorders = [
      referenceRecorder(expected, 'organization,api_key'),
      new PrometheusMetricsRecorder(actual, 'organization,api_key'),
    ];
    workload(recorders, 11, 200);
    expected.resetMetrics();
    actual.resetMetrics();
    assert.equal(await actual.metrics(), await expected.metrics());
    workload(recorders, 13, 200);
    assert.equal(await actual.metrics(), await expected.metrics());
  });
});
