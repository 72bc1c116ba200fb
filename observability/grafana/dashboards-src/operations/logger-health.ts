/**
 * Logger Health Dashboard (stack spec, section 5): the asynchronous logger's enqueue, drop,
 * write errors, batch size, queue depth and flush duration, next to what actually reached Loki.
 * A dropped record never reaches Loki, so the two sides are shown together.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { gatewayServiceName, gatewayStream } from '../lib/log-streams.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { gatewayInstance, quantileOfRaw, rate, series, sumBy } from '../lib/promql.ts';
import { gateway } from '../lib/series.ts';
import { logql, prom } from '../lib/targets.ts';
import { datasourceVariable, lokiLabelValues } from '../lib/variables.ts';

const counter = (metric: string) => rate(series(metric, gatewayInstance));
const inRange = (metric: string) => `increase(${series(metric, gatewayInstance)}[$__range])`;

const loggerTrouble = drillDown({
  what: 'warnings and errors at this time',
  traces: '{ status = error }',
  logFilter: ' | level=~"error|warn|fatal"',
});

export const loggerHealth = defineDashboard({
  entry: dashboardIndex.loggerHealth,
  description:
    "The gateway's asynchronous logger: records enqueued, dropped and failed, batch size, queue depth and flush time, against the lines Loki received.",
  tags: ['operations', 'logs'],
  variables: [
    datasourceVariable('prometheus'),
    datasourceVariable('loki'),
    gatewayInstanceVariable(),
    lokiLabelValues({
      name: 'service',
      label: 'Service (Loki)',
      description: "The service_name stream label of the gateway's log lines.",
      labelName: 'service_name',
      current: gatewayServiceName,
    }),
  ],
  related: [dashboardIndex.logsExplore, dashboardIndex.applications, dashboardIndex.otelPipeline],
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Records enqueued',
          description: 'Log records accepted by the logger per second.',
          unit: 'ops',
          width: 6,
          targets: [prom(sumBy([], counter(gateway.logsEnqueuedTotal)), { instant: true })],
        }),
        stat({
          title: 'Records dropped in range',
          description:
            'Records dropped because the queue was full, over the time range (the alert fires on any increase).',
          unit: 'short',
          width: 6,
          decimals: 0,
          thresholds: [1],
          targets: [prom(sumBy([], inRange(gateway.logsDroppedTotal)), { instant: true })],
        }),
        stat({
          title: 'Write errors in range',
          description: 'Failed writes of log batches over the time range (the alert fires on any increase).',
          unit: 'short',
          width: 6,
          decimals: 0,
          thresholds: [1],
          targets: [prom(sumBy([], inRange(gateway.logsWriteErrorsTotal)), { instant: true })],
        }),
        stat({
          title: 'Queue depth',
          description: 'Records waiting to be written, all replicas.',
          unit: 'short',
          width: 6,
          targets: [prom(sumBy([], series(gateway.logsQueueDepth, gatewayInstance)), { instant: true })],
        }),
      ],
    },
    {
      title: 'Pipeline',
      panels: [
        timeseries({
          title: 'Records enqueued, dropped and write errors',
          description: 'Per second: records accepted, records dropped (queue full), failed batch writes.',
          unit: 'ops',
          links: loggerTrouble,
          targets: [
            prom(sumBy([], counter(gateway.logsEnqueuedTotal)), { legend: 'enqueued' }),
            prom(sumBy([], counter(gateway.logsDroppedTotal)), { legend: 'dropped' }),
            prom(sumBy([], counter(gateway.logsWriteErrorsTotal)), { legend: 'write errors' }),
          ],
        }),
        timeseries({
          title: 'Queue depth by replica',
          description: 'Records waiting to be written; a queue near its bound means drops are next.',
          unit: 'short',
          targets: [prom(series(gateway.logsQueueDepth, gatewayInstance), { legend: '{{instance}}' })],
        }),
        timeseries({
          title: 'Batch size p50 / p95',
          description: 'Records per written batch.',
          unit: 'short',
          targets: [
            prom(quantileOfRaw(0.5, [], series(`${gateway.logsBatchSize}_bucket`, gatewayInstance)), {
              legend: 'p50',
            }),
            prom(quantileOfRaw(0.95, [], series(`${gateway.logsBatchSize}_bucket`, gatewayInstance)), {
              legend: 'p95',
            }),
          ],
        }),
        timeseries({
          title: 'Flush latency p95 / p99',
          description:
            'Time to write one batch to stdout (or the log file). Click a point for the error logs of that time.',
          unit: 's',
          links: loggerTrouble,
          targets: [
            prom(quantileOfRaw(0.95, [], series(`${gateway.logsFlushDuration}_bucket`, gatewayInstance)), {
              legend: 'p95',
            }),
            prom(quantileOfRaw(0.99, [], series(`${gateway.logsFlushDuration}_bucket`, gatewayInstance)), {
              legend: 'p99',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Delivery to Loki',
      panels: [
        timeseries({
          title: 'Gateway lines received by Loki',
          description:
            'Log lines per second of the gateway stream stored in Loki; compare with records enqueued above.',
          unit: 'ops',
          width: 8,
          targets: [logql(`sum(rate(${gatewayStream} [$__auto]))`, { legend: 'lines stored' })],
        }),
        timeseries({
          title: 'Gateway lines by level',
          description: 'Log lines per second by level.',
          unit: 'ops',
          width: 8,
          stack: 'normal',
          targets: [logql(`sum by (level) (rate(${gatewayStream} [$__auto]))`, { legend: '{{level}}' })],
        }),
        timeseries({
          title: 'Loki ingest (all streams)',
          description: "Lines per second Loki's distributor accepted, every stream included.",
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], rate('loki_distributor_lines_received_total')), { legend: 'lines' })],
        }),
      ],
    },
  ],
});
