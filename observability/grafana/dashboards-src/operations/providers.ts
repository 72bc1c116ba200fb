/**
 * Provider Dashboard (stack spec, section 5): per-provider attempt rate, error rate and
 * latency, time to first token, and how routing fell over between candidates. One request can
 * make several upstream attempts; every number here counts attempts.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable, modelVariable, providerVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { gatewayInstance, quantile, quantileOfRaw, rate, series, sumBy } from '../lib/promql.ts';
import { gateway, recorded } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { clickedLabel, clickedValue, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable } from '../lib/variables.ts';

const providerFilters = [gatewayInstance, 'provider=~"$provider"', 'model=~"$model"'];
const attempts = (...matchers: string[]) =>
  series(recorded.providerRequests, ...providerFilters, ...matchers);
const errors = series(recorded.providerErrors, ...providerFilters);
const durationBuckets = series(recorded.providerDurationBuckets, ...providerFilters);
const firstTokenBuckets = series(recorded.timeToFirstTokenBuckets, ...providerFilters);
const streams = (...matchers: string[]) =>
  series(recorded.streamSessions, gatewayInstance, 'provider=~"$provider"', ...matchers);

const providerAttempt = spanNamed('providerRequest');
const provider = `${spanAttribute('provider')} = "${clickedLabel('provider')}"`;

const failedAttemptsOfProvider = drillDown({
  what: 'failed attempts of this provider',
  traces: `{ ${providerAttempt} && ${provider} && status = error }`,
  logFilter: ` | provider="${clickedLabel('provider')}" | level=~"error|warn"`,
});

const failedAttemptsOfClass = drillDown({
  what: 'attempts of this provider failing with this class',
  traces: `{ ${providerAttempt} && ${provider} && ${spanAttribute('errorClass')} = "${clickedLabel('error_class')}" }`,
  logFilter: ` | provider="${clickedLabel('provider')}" | level=~"error|warn"`,
});

const slowAttemptsOfProvider = drillDown({
  what: 'attempts of this provider slower than this point',
  traces: `{ ${providerAttempt} && ${provider} && duration > ${clickedValue}s }`,
  logFilter: ` | provider="${clickedLabel('provider')}"`,
});

const slowAttemptsOfModel = drillDown({
  what: 'attempts for this model slower than this point',
  traces: `{ ${providerAttempt} && ${spanAttribute('model')} = "${clickedLabel('model')}" && duration > ${clickedValue}s }`,
  logFilter: ` | model="${clickedLabel('model')}"`,
});

const slowFirstTokens = drillDown({
  what: 'streams of this provider and model',
  traces: `{ ${spanNamed('providerStream')} && ${provider} && ${spanAttribute('model')} = "${clickedLabel('model')}" }`,
  logFilter: ` | provider="${clickedLabel('provider')}" | model="${clickedLabel('model')}"`,
});

const failedRouting = drillDown({
  what: 'requests that could not be routed',
  traces: `{ ${spanNamed('routeResolve')} && status = error }`,
  logFilter: ' | level=~"error|warn"',
});

export const providers = defineDashboard({
  entry: dashboardIndex.providers,
  description:
    'Upstream provider health: attempt rate, error rate and class, latency, time to first token, streams, and routing failover.',
  tags: ['operations', 'providers'],
  variables: [
    datasourceVariable('prometheus'),
    gatewayInstanceVariable(),
    providerVariable(),
    modelVariable(),
  ],
  related: [dashboardIndex.gatewayRequests, dashboardIndex.tokenUsage, dashboardIndex.tracesOverview],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Upstream attempts',
          description:
            'Upstream attempts per second over the last 5 minutes (retries and failovers included).',
          unit: 'reqps',
          width: 6,
          targets: [prom(sumBy([], attempts()), { instant: true })],
        }),
        stat({
          title: 'Attempt error ratio',
          description:
            'Failed attempts divided by all attempts (the provider-error alert fires above 10 % per provider).',
          unit: 'percentunit',
          width: 6,
          thresholds: [0.05, 0.1],
          targets: [prom(`${sumBy([], errors)} / ${sumBy([], attempts())}`, { instant: true })],
        }),
        stat({
          title: 'p95 attempt latency',
          description: '95th percentile duration of one upstream attempt, to the last byte.',
          unit: 's',
          width: 6,
          targets: [prom(quantile(0.95, [], durationBuckets), { instant: true })],
        }),
        stat({
          title: 'p95 time to first token',
          description: '95th percentile time from the upstream request to its first content chunk.',
          unit: 's',
          width: 6,
          targets: [prom(quantile(0.95, [], firstTokenBuckets), { instant: true })],
        }),
      ],
    },
    {
      title: 'Traffic',
      panels: [
        timeseries({
          title: 'Attempts by provider and status',
          description: 'Upstream attempts per second by provider and status class of the upstream answer.',
          unit: 'reqps',
          targets: [
            prom(sumBy(['provider', 'status_class'], attempts()), {
              legend: '{{provider}} {{status_class}}',
            }),
          ],
        }),
        timeseries({
          title: 'Attempts by model',
          description: 'Upstream attempts per second by model.',
          unit: 'reqps',
          targets: [prom(sumBy(['model'], attempts()), { legend: '{{model}}' })],
        }),
      ],
    },
    {
      title: 'Errors',
      panels: [
        timeseries({
          title: 'Error ratio by provider',
          description:
            "Failed attempts divided by attempts, per provider. Click a series for that provider's failed attempts in Tempo and its error logs.",
          unit: 'percentunit',
          thresholds: [0.05, 0.1],
          showThresholds: true,
          links: failedAttemptsOfProvider,
          targets: [
            prom(`${sumBy(['provider'], errors)} / ${sumBy(['provider'], attempts())}`, {
              legend: '{{provider}}',
            }),
          ],
        }),
        timeseries({
          title: 'Errors by provider and class',
          description:
            'Failed attempts per second by provider and error class (timeout, rate_limited, upstream_5xx, ...).',
          unit: 'ops',
          stack: 'normal',
          links: failedAttemptsOfClass,
          targets: [
            prom(sumBy(['provider', 'error_class'], errors), { legend: '{{provider}} {{error_class}}' }),
          ],
        }),
      ],
    },
    {
      title: 'Latency',
      panels: [
        timeseries({
          title: 'Attempt latency p95 by provider',
          description:
            '95th percentile attempt duration per provider. Click a point for the attempts slower than it.',
          unit: 's',
          width: 8,
          links: slowAttemptsOfProvider,
          targets: [prom(quantile(0.95, ['provider'], durationBuckets), { legend: '{{provider}}' })],
        }),
        timeseries({
          title: 'Attempt latency p95 by model',
          description: '95th percentile attempt duration per model.',
          unit: 's',
          width: 8,
          links: slowAttemptsOfModel,
          targets: [prom(quantile(0.95, ['model'], durationBuckets), { legend: '{{model}}' })],
        }),
        timeseries({
          title: 'Time to first token p95 (latency)',
          description: '95th percentile time to the first content chunk, by provider and model.',
          unit: 's',
          width: 8,
          links: slowFirstTokens,
          targets: [
            prom(quantile(0.95, ['provider', 'model'], firstTokenBuckets), {
              legend: '{{provider}} {{model}}',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Streams',
      panels: [
        timeseries({
          title: 'Stream outcomes by provider',
          description:
            'Streams ending per second by provider and outcome (completed, client_aborted, upstream_error).',
          unit: 'ops',
          width: 24,
          targets: [prom(sumBy(['provider', 'outcome'], streams()), { legend: '{{provider}} {{outcome}}' })],
        }),
      ],
    },
    {
      title: 'Routing and failover',
      panels: [
        timeseries({
          title: 'Routing decisions',
          description:
            'Requests per second by routing decision: direct, rerouted (failover), exhausted (no candidate left).',
          unit: 'reqps',
          width: 6,
          stack: 'normal',
          targets: [
            prom(sumBy(['decision'], rate(series(gateway.routingDecisionsTotal, gatewayInstance))), {
              legend: '{{decision}}',
            }),
          ],
        }),
        timeseries({
          title: 'Attempts per request',
          description: 'Upstream attempts a request needed: average and 95th percentile (1 means no retry).',
          unit: 'short',
          width: 6,
          targets: [
            prom(
              `${sumBy([], rate(series(`${gateway.routingAttempts}_sum`, gatewayInstance)))} / ${sumBy([], rate(series(`${gateway.routingAttempts}_count`, gatewayInstance)))}`,
              { legend: 'average' },
            ),
            prom(quantileOfRaw(0.95, [], series(`${gateway.routingAttempts}_bucket`, gatewayInstance)), {
              legend: 'p95',
            }),
          ],
        }),
        timeseries({
          title: 'Routing latency p95 / p99',
          description: 'Time to resolve the model and its candidates.',
          unit: 's',
          width: 6,
          links: failedRouting,
          targets: [
            { q: 0.95, legend: 'p95' },
            { q: 0.99, legend: 'p99' },
          ].map(({ q, legend }) =>
            prom(quantileOfRaw(q, [], series(`${gateway.routingDuration}_bucket`, gatewayInstance)), {
              legend,
            }),
          ),
        }),
        timeseries({
          title: 'Routing errors by class',
          description: 'Requests per second that could not be routed, by error class.',
          unit: 'reqps',
          width: 6,
          links: failedRouting,
          targets: [
            prom(sumBy(['error_class'], rate(series(gateway.routingErrorsTotal, gatewayInstance))), {
              legend: '{{error_class}}',
            }),
          ],
        }),
      ],
    },
  ],
});
