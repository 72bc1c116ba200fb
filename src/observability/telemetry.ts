/**
 * Telemetry composition: the /metrics registry and recorder (plus the OTLP push when asked
 * for), the trace SDK, the asynchronous logger, and the per-request instrumentation that turns
 * a finished RequestContext into the contract's request, provider, stream, routing, token and
 * cost series, ends its root span and writes its one access log line.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { RequestContext } from '../gateway/request-context.ts';
import type { TokenUsage } from '../providers/types.ts';
import { writeAccessLog } from './access-log.ts';
import { spanAttributes, spanNames } from './catalog.ts';
import { BoundedLogDestination, fileSink, type LogSink, stdoutSink } from './log-destination.ts';
import { createLogger } from './logger.ts';
import type { MetricsRecorder } from './metrics.ts';
import type { ObservabilitySettings } from './observability-settings.ts';
import { OtlpMetricsRecorder } from './otlp-metrics.ts';
import { FanOutMetricsRecorder, PrometheusMetricsRecorder } from './prometheus-metrics.ts';
import { registerRuntimeMetrics } from './runtime-metrics.ts';
import { markSpanFailed, startServerSpan, validSpanContext } from './spans.ts';
import { startTracing } from './tracing.ts';

export interface TelemetryOptions {
  settings: ObservabilitySettings;
  logLevel: string;
  version: string;
  /** Replaces stdout (tests capture the log stream). */
  stdout?: NodeJS.WritableStream;
}

export interface Telemetry {
  readonly metrics: MetricsRecorder;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly settings: ObservabilitySettings;
  requestStarted(context: RequestContext, method: string, headers: IncomingHttpHeaders): void;
  requestEnded(context: RequestContext): void;
  /** Writes out queued log lines and exports finished spans now (tests, shutdown). */
  flush(): Promise<void>;
  /** Flushes logs and exporters; call last on shutdown. */
  close(): Promise<void>;
}

const tokenClasses: ReadonlyArray<[string, (usage: TokenUsage) => number]> = [
  ['input', (usage) => usage.input],
  ['output', (usage) => usage.output],
  ['cached', (usage) => usage.cachedInput],
  ['reasoning', (usage) => usage.reasoning],
  ['embeddings', (usage) => usage.embeddings],
  ['billable', (usage) => (usage.embeddings > 0 ? usage.embeddings : usage.input + usage.output)],
];

export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { settings } = options;
  const registry = new Registry();
  const prometheus = new PrometheusMetricsRecorder(registry, settings.tenantLabels);
  const otlp = settings.metricsExporter === 'none' ? undefined : await OtlpMetricsRecorder.create(settings);
  const metrics: MetricsRecorder =
    otlp === undefined ? prometheus : new FanOutMetricsRecorder([prometheus, otlp]);
  const runtime = registerRuntimeMetrics(registry, options.version);

  const sinks: LogSink[] = [stdoutSink(options.stdout)];
  if (settings.logToFile) sinks.push(fileSink({ directory: settings.logsPath! }));
  const destination = new BoundedLogDestination({ sinks, metrics });
  const logger = createLogger({ level: options.logLevel, resource: settings.resource, destination });
  const tracing = await startTracing(settings, metrics);
  const flushOnExit = () => destination.flushSync();
  process.once('exit', flushOnExit);

  return {
    metrics,
    registry,
    logger,
    settings,
    requestStarted(context, method, headers) {
      // The root span always exists (its trace id goes to logs and the usage record); its
      // attributes are built only when the sampler records it.
      const span = startServerSpan(spanNames.httpRequest, headers, () => ({
        [spanAttributes.requestId]: context.requestId,
        [spanAttributes.route]: context.route,
        [spanAttributes.endpoint]: context.endpoint,
        'http.request.method': method,
      }));
      context.span = span;
      context.traceId = validSpanContext(span)?.traceId;
      metrics.adjust('requestsInFlight', 1, { route: context.route });
    },
    requestEnded(context) {
      recordRequest(metrics, context);
      endRootSpan(context);
      writeAccessLog(logger, context);
    },
    async flush() {
      await tracing.forceFlush();
      await destination.flush();
    },
    async close() {
      process.off('exit', flushOnExit);
      runtime.stop();
      await tracing.shutdown();
      await otlp?.shutdown().catch(() => {});
      await destination.close();
    },
  };
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'unknown';
}

/**
 * The request's series. Label objects are plain literals built once per label set of this
 * request (no spreads): recorders read label values and never keep the objects.
 */
function recordRequest(metrics: MetricsRecorder, context: RequestContext): void {
  const { outcome, route, endpoint } = context;
  const seconds = (performance.now() - context.startedAt) / 1000;
  const stream = outcome.stream ? 'true' : 'false';
  const requestLabels = { route, endpoint, status_class: statusClass(outcome.status), stream };
  metrics.adjust('requestsInFlight', -1, { route });
  metrics.increment('requestsTotal', requestLabels);
  metrics.observe('requestDuration', seconds, requestLabels);
  const upstreamSeconds =
    outcome.upstreamStartedAt !== undefined && outcome.upstreamEndedAt !== undefined
      ? (outcome.upstreamEndedAt - outcome.upstreamStartedAt) / 1000
      : 0;
  metrics.observe('overheadDuration', Math.max(0, seconds - upstreamSeconds), { route, endpoint });

  const attempts = outcome.attempts;
  if (attempts.length === 0) return;
  for (const attempt of attempts) {
    const { provider, model } = attempt;
    metrics.increment('providerRequestsTotal', {
      provider,
      model,
      endpoint,
      status_class: attempt.status === undefined ? 'none' : statusClass(attempt.status),
    });
    metrics.observe('providerRequestDuration', attempt.durationMs / 1000, { provider, model, endpoint });
    if (attempt.outcome !== 'success')
      metrics.increment('providerErrorsTotal', {
        provider,
        model,
        error_class: attempt.outcome === 'error' ? (attempt.errorCode ?? 'upstream_error') : attempt.outcome,
      });
  }
  const last = attempts.at(-1)!;
  const succeeded = last.outcome === 'success';
  metrics.observe('routingAttempts', attempts.length);
  metrics.increment('routingDecisionsTotal', {
    decision: !succeeded ? 'exhausted' : attempts.length === 1 ? 'direct' : 'rerouted',
  });
  const provider = last.provider;
  const model = last.model;
  if (outcome.timeToFirstTokenMs !== undefined) {
    const fromUpstream = outcome.timeToFirstTokenMs - (last.startedAt - context.startedAt);
    metrics.observe('providerTimeToFirstToken', Math.max(0, fromUpstream) / 1000, { provider, model });
  }
  if (outcome.stream && outcome.streamOutcome !== undefined) {
    metrics.increment('streamSessionsTotal', { provider, outcome: outcome.streamOutcome });
    metrics.observe('streamDuration', seconds, { provider });
  }
  const principal = context.principal;
  const usage = outcome.usage;
  if (usage !== undefined && principal !== undefined) {
    const organization_id = principal.organizationId;
    const api_key_id = principal.apiKeyId;
    for (const [token_class, count] of tokenClasses) {
      const value = count(usage);
      if (value > 0)
        metrics.increment(
          'tokensTotal',
          { provider, model, organization_id, api_key_id, token_class },
          value,
        );
    }
    if (outcome.costNanos > 0n)
      metrics.increment(
        'costUsdTotal',
        { provider, model, organization_id },
        Number(outcome.costNanos) / 1e9,
      );
  }
}

function endRootSpan(context: RequestContext): void {
  const span = context.span;
  if (span === undefined) return;
  if (span.isRecording()) {
    const { outcome } = context;
    span.setAttribute('http.response.status_code', outcome.status);
    span.setAttribute(spanAttributes.stream, outcome.stream);
    if (context.principal !== undefined)
      span.setAttribute(spanAttributes.organizationId, context.principal.organizationId);
    if (context.model !== undefined) {
      span.setAttribute(spanAttributes.model, context.model.name);
      span.setAttribute(spanAttributes.provider, context.model.provider.name);
    }
    if (outcome.attempts.length > 1)
      span.setAttribute(spanAttributes.retryCount, outcome.attempts.length - 1);
    if (outcome.status >= 500 || outcome.streamOutcome === 'upstream_error')
      markSpanFailed(span, undefined, outcome.errorCode ?? 'internal_error');
    else if (outcome.errorCode !== undefined) span.setAttribute(spanAttributes.errorClass, outcome.errorCode);
  }
  span.end();
}
