/**
 * Gateway Request Dashboard (stack spec, section 5): volume, status mix, p50/p95/p99 latency,
 * the gateway's own overhead, requests in flight, streaming sessions and the plugin pipeline.
 * Rates and latency buckets come from the recording rules (5-minute windows).
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { gatewayInstance, quantile, quantileOfRaw, rate, series, sumBy } from '../lib/promql.ts';
import { gateway, recorded } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { clickedLabel, clickedValue, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const routeFilter = 'route=~"$route"';
const requests = (...matchers: string[]) =>
  series(recorded.requestsByRouteStatus, gatewayInstance, routeFilter, ...matchers);
const durationBuckets = series(recorded.requestDurationBuckets, gatewayInstance, routeFilter);
const overheadBuckets = series(recorded.overheadDurationBuckets, gatewayInstance, routeFilter);
const streams = (...matchers: string[]) => series(recorded.streamSessions, gatewayInstance, ...matchers);

const percentiles = [
  { q: 0.5, legend: 'p50' },
  { q: 0.95, legend: 'p95' },
  { q: 0.99, legend: 'p99' },
] as const;

const slowerRequests = drillDown({
  what: 'requests slower than this point',
  traces: `{ ${spanNamed('httpRequest')} && duration > ${clickedValue}s }`,
  logFilter: '',
});

const slowerOnRoute = drillDown({
  what: 'this route, slower than this point',
  traces: `{ ${spanNamed('httpRequest')} && ${spanAttribute('route')} = "${clickedLabel('route')}" && duration > ${clickedValue}s }`,
  logFilter: ` | route="${clickedLabel('route')}"`,
});

const failedOnRoute = drillDown({
  what: 'failed requests on this route',
  traces: `{ ${spanNamed('httpRequest')} && ${spanAttribute('route')} = "${clickedLabel('route')}" && status = error }`,
  logFilter: ` | route="${clickedLabel('route')}" | level=~"error|warn"`,
});

const failedRequests = drillDown({
  what: 'failed requests',
  traces: `{ ${spanNamed('httpRequest')} && status = error }`,
  logFilter: ' | level=~"error|warn"',
});

const failedStreams = drillDown({
  what: 'failed streams of this provider',
  traces: `{ ${spanNamed('providerStream')} && ${spanAttribute('provider')} = "${clickedLabel('provider')}" && status = error }`,
  logFilter: ` | provider="${clickedLabel('provider')}" | level=~"error|warn"`,
});

const slowPlugins = drillDown({
  what: 'slow runs of this plugin',
  traces: `{ ${spanNamed('pluginExecute')} && ${spanAttribute('pluginName')} = "${clickedLabel('plugin_name')}" && duration > ${clickedValue}s }`,
  logFilter: ` | plugin_name="${clickedLabel('plugin_name')}"`,
});

const failedPlugins = drillDown({
  what: 'failed runs of this plugin',
  traces: `{ ${spanNamed('pluginExecute')} && ${spanAttribute('pluginName')} = "${clickedLabel('plugin_name')}" && status = error }`,
  logFilter: ` | plugin_name="${clickedLabel('plugin_name')}" | level=~"error|warn"`,
});

export const gatewayRequests = defineDashboard({
  entry: dashboardIndex.gatewayRequests,
  description:
    "Requests answered by the gateway: volume, status mix, latency, the gateway's own overhead, in-flight work, streaming sessions and plugins.",
  tags: ['operations', 'gateway'],
  variables: [
    datasourceVariable('prometheus'),
    gatewayInstanceVariable(),
    promLabelValues({
      name: 'route',
      label: 'Route',
      description: 'Route templates (never raw paths) to include.',
      selector: `${gateway.requestsTotal}{instance=~"$instance"}`,
      labelName: 'route',
    }),
  ],
  related: [
    dashboardIndex.providers,
    dashboardIndex.rateLimits,
    dashboardIndex.tokenUsage,
    dashboardIndex.applications,
    dashboardIndex.tracesOverview,
  ],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Request rate',
          description: 'Requests answered per second over the last 5 minutes, all selected routes.',
          unit: 'reqps',
          targets: [prom(sumBy([], requests()), { instant: true })],
        }),
        stat({
          title: '5xx ratio',
          description: 'Share of requests answered with a 5xx status (the 5xx-spike alert fires above 5 %).',
          unit: 'percentunit',
          thresholds: [0.01, 0.05],
          targets: [
            prom(`${sumBy([], requests('status_class="5xx"'))} / ${sumBy([], requests())}`, {
              instant: true,
            }),
          ],
        }),
        stat({
          title: 'p95 latency',
          description: '95th percentile of the time from request arrival to the end of the response.',
          unit: 's',
          thresholds: [1, 5],
          targets: [prom(quantile(0.95, [], durationBuckets), { instant: true })],
        }),
        stat({
          title: 'p95 gateway overhead',
          description:
            '95th percentile of the time spent in the gateway itself, outside the upstream call: a rise here is the gateway, not the model.',
          unit: 's',
          thresholds: [0.01, 0.05],
          targets: [prom(quantile(0.95, [], overheadBuckets), { instant: true })],
        }),
        stat({
          title: 'In flight',
          description: 'Requests being handled right now.',
          unit: 'short',
          targets: [
            prom(sumBy([], series(gateway.requestsInFlight, gatewayInstance, routeFilter)), {
              instant: true,
            }),
          ],
        }),
        stat({
          title: 'Streams completed',
          description: 'Share of streaming sessions that ended normally (not aborted, no upstream error).',
          unit: 'percentunit',
          targets: [
            prom(`${sumBy([], streams('outcome="completed"'))} / ${sumBy([], streams())}`, { instant: true }),
          ],
        }),
      ],
    },
    {
      title: 'Traffic',
      panels: [
        timeseries({
          title: 'Requests by route',
          description: 'Requests answered per second, per route template.',
          unit: 'reqps',
          targets: [prom(sumBy(['route'], requests()), { legend: '{{route}}' })],
        }),
        timeseries({
          title: 'Status mix',
          description: 'Requests per second by status class, stacked: the whole height is the total volume.',
          unit: 'reqps',
          stack: 'normal',
          targets: [prom(sumBy(['status_class'], requests()), { legend: '{{status_class}}' })],
        }),
        timeseries({
          title: 'Requests by endpoint and streaming',
          description: 'Requests per second by endpoint family and whether the response was streamed.',
          unit: 'reqps',
          targets: [
            prom(
              sumBy(
                ['endpoint', 'stream'],
                rate(series(gateway.requestsTotal, gatewayInstance, routeFilter)),
              ),
              {
                legend: '{{endpoint}} stream={{stream}}',
              },
            ),
          ],
        }),
        timeseries({
          title: 'Requests in flight by route',
          description:
            'Requests being handled at each scrape, per route; a climbing line with flat volume means requests are piling up.',
          unit: 'short',
          targets: [
            prom(sumBy(['route'], series(gateway.requestsInFlight, gatewayInstance, routeFilter)), {
              legend: '{{route}}',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Latency',
      panels: [
        timeseries({
          title: 'Request latency p50 / p95 / p99',
          description:
            'Time from request arrival to the end of the response, all selected routes. Click a point for the traces slower than it and the logs of that time.',
          unit: 's',
          links: slowerRequests,
          targets: percentiles.map(({ q, legend }) => prom(quantile(q, [], durationBuckets), { legend })),
        }),
        timeseries({
          title: 'p95 latency by route',
          description:
            "95th percentile latency per route. Click a series for that route's slow traces and logs.",
          unit: 's',
          links: slowerOnRoute,
          targets: [prom(quantile(0.95, ['route'], durationBuckets), { legend: '{{route}}' })],
        }),
        timeseries({
          title: 'Gateway overhead latency p50 / p95 / p99',
          description:
            'Time spent in the gateway before the first upstream byte was requested plus after the last one arrived.',
          unit: 's',
          links: slowerRequests,
          targets: percentiles.map(({ q, legend }) => prom(quantile(q, [], overheadBuckets), { legend })),
        }),
        timeseries({
          title: 'Overhead share of request time',
          description:
            'Gateway overhead seconds divided by total request seconds: how much of the latency is ours.',
          unit: 'percentunit',
          min: 0,
          targets: [
            prom(
              `${sumBy([], rate(series(`${gateway.overheadDuration}_sum`, gatewayInstance, routeFilter)))} / ${sumBy([], rate(series(`${gateway.requestDuration}_sum`, gatewayInstance, routeFilter)))}`,
              { legend: 'overhead share' },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Errors',
      panels: [
        timeseries({
          title: '5xx error ratio by route',
          description:
            "Share of each route's requests answered with 5xx. Click a series for the failed traces and error logs of that route.",
          unit: 'percentunit',
          thresholds: [0.01, 0.05],
          showThresholds: true,
          links: failedOnRoute,
          targets: [
            prom(`${sumBy(['route'], requests('status_class="5xx"'))} / ${sumBy(['route'], requests())}`, {
              legend: '{{route}}',
            }),
          ],
        }),
        timeseries({
          title: 'Error responses by status class',
          description:
            'Requests per second answered with 4xx (client or policy) and 5xx (gateway or upstream) statuses.',
          unit: 'reqps',
          links: failedRequests,
          targets: [
            prom(sumBy(['status_class'], requests('status_class=~"4xx|5xx"')), {
              legend: '{{status_class}}',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Streaming',
      panels: [
        timeseries({
          title: 'Streaming sessions by outcome',
          description: 'Streams ending per second: completed, client_aborted, upstream_error.',
          unit: 'ops',
          stack: 'normal',
          targets: [prom(sumBy(['outcome'], streams()), { legend: '{{outcome}}' })],
        }),
        timeseries({
          title: 'Stream failure ratio by provider',
          description:
            'Share of streams ending in an upstream error, per provider (the stream-failure alert fires above 10 %).',
          unit: 'percentunit',
          thresholds: [0.05, 0.1],
          showThresholds: true,
          links: failedStreams,
          targets: [
            prom(
              `${sumBy(['provider'], streams('outcome="upstream_error"'))} / ${sumBy(['provider'], streams())}`,
              {
                legend: '{{provider}}',
              },
            ),
          ],
        }),
        timeseries({
          title: 'Stream duration p95 by provider',
          description: '95th percentile duration of a streamed response, per provider.',
          unit: 's',
          width: 24,
          links: drillDown({
            what: 'streams of this provider slower than this point',
            traces: `{ ${spanNamed('providerStream')} && ${spanAttribute('provider')} = "${clickedLabel('provider')}" && duration > ${clickedValue}s }`,
            logFilter: ` | provider="${clickedLabel('provider')}"`,
          }),
          targets: [
            prom(quantile(0.95, ['provider'], series(recorded.streamDurationBuckets, gatewayInstance)), {
              legend: '{{provider}}',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Plugin pipeline',
      panels: [
        timeseries({
          title: 'Plugin executions by decision',
          description: 'Plugin runs per second, by plugin and the decision it returned.',
          unit: 'ops',
          width: 8,
          targets: [
            prom(
              sumBy(
                ['plugin_name', 'decision'],
                rate(series(gateway.pluginExecutionsTotal, gatewayInstance)),
              ),
              {
                legend: '{{plugin_name}} {{decision}}',
              },
            ),
          ],
        }),
        timeseries({
          title: 'Plugin latency p95',
          description: '95th percentile duration of one plugin run, by plugin and stage.',
          unit: 's',
          width: 8,
          links: slowPlugins,
          targets: [
            prom(
              quantileOfRaw(
                0.95,
                ['plugin_name', 'plugin_stage'],
                series(`${gateway.pluginExecutionDuration}_bucket`, gatewayInstance),
              ),
              { legend: '{{plugin_name}} {{plugin_stage}}' },
            ),
          ],
        }),
        timeseries({
          title: 'Plugin errors',
          description: 'Plugin runs per second that raised an error, by plugin and stage.',
          unit: 'ops',
          width: 8,
          links: failedPlugins,
          targets: [
            prom(
              sumBy(
                ['plugin_name', 'plugin_stage'],
                rate(series(gateway.pluginErrorsTotal, gatewayInstance)),
              ),
              {
                legend: '{{plugin_name}} {{plugin_stage}}',
              },
            ),
          ],
        }),
      ],
    },
  ],
});
