/**
 * Which metrics library on the request path? Records one gateway request's worth of series
 * (the recordings `telemetry.ts` makes for a streamed chat call) through (a) prom-client, as
 * the gateway does, and (b) the OpenTelemetry SDK MeterProvider with its Prometheus reader,
 * interleaved in one run, and reports ns per request and the cost of rendering /metrics.
 *
 *   node bench/metrics-recorder.ts [requests]
 */
import type { Attributes, Counter, Histogram, UpDownCounter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { type MetricDefinition, type MetricKey, metricCatalog } from '../src/observability/catalog.ts';
import type { MetricsRecorder } from '../src/observability/metrics.ts';
import { PrometheusMetricsRecorder } from '../src/observability/prometheus-metrics.ts';

const requests = Number(process.argv[2] ?? 200_000);

function otelRecorder(): { recorder: MetricsRecorder; render: () => Promise<string> } {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  const meter = provider.getMeter('bench');
  const instruments = new Map<MetricKey, Counter | Histogram | UpDownCounter>();
  for (const [key, definition] of Object.entries(metricCatalog) as Array<[MetricKey, MetricDefinition]>) {
    instruments.set(
      key,
      definition.type === 'counter'
        ? meter.createCounter(definition.otelName)
        : definition.type === 'histogram'
          ? meter.createHistogram(definition.otelName, {
              advice: { explicitBucketBoundaries: [...(definition.buckets ?? [])] },
            })
          : meter.createUpDownCounter(definition.otelName),
    );
  }
  const add = (key: MetricKey, value: number, labels?: object) =>
    (instruments.get(key) as Counter).add(value, labels as Attributes);
  const recorder: MetricsRecorder = {
    increment: (key, labels, value = 1) => add(key, value, labels),
    observe: (key, value, labels) => (instruments.get(key) as Histogram).record(value, labels as Attributes),
    set: (key, value, labels) => add(key, value, labels),
    adjust: (key, value, labels) => add(key, value, labels),
  };
  const render = async () => {
    const response = {
      body: '',
      statusCode: 0,
      setHeader() {},
      end(text: string) {
        this.body = text;
      },
    };
    // The handler collects asynchronously; wait for the body.
    exporter.getMetricsRequestHandler({} as never, response as never);
    while (response.body === '') await new Promise((resolve) => setImmediate(resolve));
    return response.body;
  };
  return { recorder, render };
}

/** The recordings of one streamed chat request (see `recordRequest` in telemetry.ts). */
function recordOneRequest(metrics: MetricsRecorder, index: number): void {
  const route = '/v1/chat/completions';
  const endpoint = 'chat_completions';
  const provider = index % 2 === 0 ? 'openai' : 'anthropic';
  const model = index % 2 === 0 ? 'gpt-4o-mini' : 'claude-sonnet-4-5';
  const request = { route, endpoint, status_class: '2xx', stream: 'true' };
  metrics.adjust('requestsInFlight', 1, { route });
  metrics.increment('cacheLookupsTotal', { cache: 'auth', cache_hit: 'true' });
  metrics.observe('routingDuration', 0.00002);
  metrics.adjust('requestsInFlight', -1, { route });
  metrics.increment('requestsTotal', request);
  metrics.observe('requestDuration', 0.8, request);
  metrics.observe('overheadDuration', 0.0003, { route, endpoint });
  metrics.increment('providerRequestsTotal', { provider, model, endpoint, status_class: '2xx' });
  metrics.observe('providerRequestDuration', 0.79, { provider, model, endpoint });
  metrics.observe('routingAttempts', 1);
  metrics.increment('routingDecisionsTotal', { decision: 'direct' });
  metrics.observe('providerTimeToFirstToken', 0.2, { provider, model });
  metrics.increment('streamSessionsTotal', { provider, outcome: 'completed' });
  metrics.observe('streamDuration', 0.8, { provider });
  const organization_id = 'org-1';
  const api_key_id = `key-${index % 8}`;
  for (const token_class of ['input', 'output', 'billable'])
    metrics.increment('tokensTotal', { provider, model, organization_id, api_key_id, token_class }, 120);
  metrics.increment('costUsdTotal', { provider, model, organization_id: 'org-1' }, 0.00012);
}

function time(label: string, metrics: MetricsRecorder): number {
  const started = process.hrtime.bigint();
  for (let index = 0; index < requests; index += 1) recordOneRequest(metrics, index);
  const nanosPerRequest = Number(process.hrtime.bigint() - started) / requests;
  process.stdout.write(`  ${label.padEnd(24)} ${nanosPerRequest.toFixed(0).padStart(6)} ns per request\n`);
  return nanosPerRequest;
}

const registry = new Registry();
const prom = new PrometheusMetricsRecorder(registry, 'organization,api_key');
const otel = otelRecorder();
const results = { promClient: [] as number[], otelSdk: [] as number[] };
process.stdout.write(`recording ${requests} requests' metrics, 3 interleaved rounds\n`);
for (let round = 0; round < 3; round += 1) {
  results.promClient.push(time('prom-client', prom));
  results.otelSdk.push(time('OpenTelemetry SDK', otel.recorder));
}
const best = (values: number[]) => Math.min(...values);
const renderStart = performance.now();
const promText = await registry.metrics();
const promRender = performance.now() - renderStart;
const otelStart = performance.now();
const otelText = await otel.render();
const otelRender = performance.now() - otelStart;
process.stdout.write(
  `\nbest of 3: prom-client ${best(results.promClient).toFixed(0)} ns, OpenTelemetry SDK ${best(results.otelSdk).toFixed(0)} ns per request` +
    ` (ratio OTel/prom-client ${(best(results.otelSdk) / best(results.promClient)).toFixed(2)})\n` +
    `/metrics render: prom-client ${promRender.toFixed(1)} ms (${promText.length} bytes), OpenTelemetry SDK ${otelRender.toFixed(1)} ms (${otelText.length} bytes)\n`,
);
