/**
 * Traces Overview (stack spec, section 5): trace shape, error spans and slow endpoints. Rates
 * and latencies come from the span metrics Tempo's metrics-generator writes to Prometheus
 * (every span, before sampling at query time); the tables are TraceQL searches over the stored,
 * head-sampled traces.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { drillDown } from '../lib/links.ts';
import { table, timeseries, traceSearch } from '../lib/panels.ts';
import { quantile, rate, series, sumBy } from '../lib/promql.ts';
import { recorded } from '../lib/series.ts';
import { prom, traceql } from '../lib/targets.ts';
import { clickedLabel, clickedValue, spanAttribute, spanName, spanNamed } from '../lib/traceql.ts';
import { customVariable, datasourceVariable, promLabelValues } from '../lib/variables.ts';

const service = 'service=~"$service"';
const calls = (...matchers: string[]) => series(recorded.spanCalls, service, ...matchers);
const latencyBuckets = series(recorded.spanLatencyBuckets, service);
const errorStatus = 'status_code="STATUS_CODE_ERROR"';
const inService = 'resource.service.name =~ "$service"';

const errorSpansNamed = drillDown({
  what: 'error spans of this name',
  traces: `{ name = "${clickedLabel('span_name')}" && status = error }`,
  logFilter: ' | level=~"error|warn"',
});

const slowSpansNamed = drillDown({
  what: 'spans of this name slower than this point',
  traces: `{ name = "${clickedLabel('span_name')}" && duration > ${clickedValue}s }`,
  logFilter: '',
});

export const tracesOverview = defineDashboard({
  entry: dashboardIndex.tracesOverview,
  description:
    'Trace shape (spans per request by name), error spans and slow endpoints, from span metrics and TraceQL searches.',
  tags: ['traces'],
  variables: [
    datasourceVariable('prometheus'),
    datasourceVariable('tempo'),
    promLabelValues({
      name: 'service',
      label: 'Service',
      description: 'service.name of the traced services (span-metric label `service`).',
      selector: 'traces_spanmetrics_calls_total',
      labelName: 'service',
    }),
    customVariable({
      name: 'slow',
      label: 'Slow above',
      description: 'Duration above which a request counts as slow in the searches below.',
      values: ['250ms', '500ms', '1s', '2s', '5s', '10s', '30s'],
      current: '2s',
    }),
  ],
  related: [dashboardIndex.gatewayRequests, dashboardIndex.providers, dashboardIndex.otelPipeline],
  rows: [
    {
      title: 'Trace shape',
      panels: [
        timeseries({
          title: 'Spans per request by span name',
          description:
            'Average number of spans of each name per root request span: the shape of a typical trace (2 provider attempts per request means retries).',
          unit: 'short',
          targets: [
            prom(
              `${sumBy(['span_name'], calls())} / scalar(${sumBy([], calls(`span_name="${spanName('httpRequest')}"`))})`,
              { legend: '{{span_name}}' },
            ),
          ],
        }),
        timeseries({
          title: 'Span rate by span name',
          description: 'Spans ending per second, by name.',
          unit: 'ops',
          targets: [prom(sumBy(['span_name'], calls()), { legend: '{{span_name}}' })],
        }),
        traceSearch({
          title: 'Requests that needed a failover',
          description: 'Traces where an upstream attempt failed inside a request that still succeeded.',
          targets: [
            traceql(
              `{ ${spanNamed('httpRequest')} && status != error && ${inService} } >> { ${spanNamed('providerRequest')} && status = error }`,
            ),
          ],
        }),
        traceSearch({
          title: 'Recent requests',
          description: 'Recent root request spans with their route, provider and model.',
          targets: [
            traceql(
              `{ ${spanNamed('httpRequest')} && ${inService} } | select(${spanAttribute('route')}, ${spanAttribute('provider')}, ${spanAttribute('model')})`,
            ),
          ],
        }),
      ],
    },
    {
      title: 'Error spans',
      panels: [
        timeseries({
          title: 'Error spans by span name',
          description: 'Spans ending with status error per second, by name. Click a series for those spans.',
          unit: 'ops',
          links: errorSpansNamed,
          targets: [prom(sumBy(['span_name'], calls(errorStatus)), { legend: '{{span_name}}' })],
        }),
        timeseries({
          title: 'Error ratio by span name',
          description: 'Share of each span name ending with status error.',
          unit: 'percentunit',
          links: errorSpansNamed,
          targets: [
            prom(`${sumBy(['span_name'], calls(errorStatus))} / ${sumBy(['span_name'], calls())}`, {
              legend: '{{span_name}}',
            }),
          ],
        }),
        traceSearch({
          title: 'Recent error spans',
          description: 'Recent spans with status error, their error class, route and provider.',
          width: 24,
          targets: [
            traceql(
              `{ status = error && ${inService} } | select(${spanAttribute('errorClass')}, ${spanAttribute('route')}, ${spanAttribute('provider')})`,
              { table: 'spans' },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Slow endpoints',
      panels: [
        timeseries({
          title: 'Span latency p95 by span name',
          description: '95th percentile span duration by name. Click a point for the spans slower than it.',
          unit: 's',
          links: slowSpansNamed,
          targets: [prom(quantile(0.95, ['span_name'], latencyBuckets), { legend: '{{span_name}}' })],
        }),
        traceSearch({
          title: 'Slow requests',
          description:
            'Root request spans slower than the "Slow above" choice, with route, provider and model.',
          targets: [
            traceql(
              `{ ${spanNamed('httpRequest')} && duration > $slow && ${inService} } | select(${spanAttribute('route')}, ${spanAttribute('provider')}, ${spanAttribute('model')})`,
            ),
          ],
        }),
      ],
    },
    {
      title: 'Service graph',
      panels: [
        table({
          title: 'Calls between services',
          description:
            'Requests per second and failed requests per second on each client → server edge of the service graph.',
          unit: 'reqps',
          width: 24,
          targets: [
            prom(sumBy(['client', 'server'], rate('traces_service_graph_request_total')), {
              instant: true,
              table: true,
            }),
            prom(sumBy(['client', 'server'], rate('traces_service_graph_request_failed_total')), {
              instant: true,
              table: true,
            }),
          ],
          transformations: [
            { id: 'merge', options: {} },
            {
              id: 'organize',
              options: {
                excludeByName: { Time: true },
                renameByName: { 'Value #A': 'requests/s', 'Value #B': 'failed/s' },
              },
            },
          ],
        }),
      ],
    },
  ],
});
