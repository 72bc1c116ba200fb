/**
 * Usage / Budget Dashboard (stack spec, section 5): budget reservations, settlements,
 * releases and rejections; the usage pipeline from publish to queue to the batched write; and
 * the async pools doing that background work. The usage-collector alerts open here first, then
 * Redis and Postgres health on the Applications dashboard.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { gatewayInstance, quantileOfRaw, rate, series, sumBy } from '../lib/promql.ts';
import { gateway } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { clickedValue, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const budget = (...matchers: string[]) =>
  rate(series(gateway.budgetDecisionsTotal, gatewayInstance, ...matchers));
const pool = 'async_pool_name=~"$async_pool"';

const rejectedBudgets = drillDown({
  what: 'requests rejected by a budget',
  traces: `{ ${spanNamed('budgetEnforce')} && ${spanAttribute('decision')} = "rejected" }`,
  logFilter: ' | decision="rejected"',
});

const failedUsageWrites = drillDown({
  what: 'failed usage publishing',
  traces: `{ ${spanNamed('publishUsage')} && status = error }`,
  logFilter: ' | level=~"error|warn" |= "usage"',
});

const slowPoolTasks = drillDown({
  what: 'background work slower than this point',
  traces: `{ ${spanNamed('usageCollect')} && duration > ${clickedValue}s }`,
  logFilter: ' | level=~"error|warn"',
});

export const usageBudget = defineDashboard({
  entry: dashboardIndex.usageBudget,
  description:
    'Budget decisions (reserved, settled, released, rejected) and the usage pipeline: publish, enqueue, flush, queue depth, async pools.',
  tags: ['operations', 'usage'],
  variables: [
    datasourceVariable('prometheus'),
    gatewayInstanceVariable(),
    promLabelValues({
      name: 'async_pool',
      label: 'Async pool',
      description: 'Background task pools to include.',
      selector: `${gateway.asyncQueueDepth}{instance=~"$instance"}`,
      labelName: 'async_pool_name',
    }),
  ],
  related: [dashboardIndex.tokenUsage, dashboardIndex.applications, dashboardIndex.gatewayRequests],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Budget rejections',
          description: 'Requests rejected by a budget, per second.',
          unit: 'reqps',
          width: 6,
          targets: [prom(sumBy([], budget('decision="rejected"')), { instant: true })],
        }),
        stat({
          title: 'Usage records written',
          description: 'Usage records written to the store per second.',
          unit: 'ops',
          width: 6,
          targets: [
            prom(sumBy([], rate(series(gateway.usageFlushedTotal, gatewayInstance))), { instant: true }),
          ],
        }),
        stat({
          title: 'Usage queue depth',
          description: 'Usage records waiting to be written, all replicas.',
          unit: 'short',
          width: 6,
          thresholds: [1000, 10000],
          targets: [prom(sumBy([], series(gateway.usageQueueDepth, gatewayInstance)), { instant: true })],
        }),
        stat({
          title: 'Usage records lost in range',
          description:
            'Records that never reached the store over the time range: queue full (enqueue errors) plus records that could not be built (ingest errors).',
          unit: 'short',
          width: 6,
          thresholds: [1],
          decimals: 0,
          targets: [
            prom(
              `${sumBy([], `increase(${series(gateway.usageEnqueueErrorsTotal, gatewayInstance)}[$__range])`)} + ${sumBy([], `increase(${series(gateway.usageIngestErrorsTotal, gatewayInstance)}[$__range])`)}`,
              { instant: true },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Budgets',
      panels: [
        timeseries({
          title: 'Budget decisions',
          description: 'Reserved, settled, released and rejected decisions per second.',
          unit: 'ops',
          targets: [prom(sumBy(['decision'], budget()), { legend: '{{decision}}' })],
        }),
        timeseries({
          title: 'Budget rejection ratio',
          description:
            'Rejections divided by reservation attempts (reserved + rejected). Click a point for the rejected requests.',
          unit: 'percentunit',
          links: rejectedBudgets,
          targets: [
            prom(
              `${sumBy([], budget('decision="rejected"'))} / ${sumBy([], budget('decision=~"reserved|rejected"'))}`,
              { legend: 'rejected' },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Usage pipeline',
      panels: [
        timeseries({
          title: 'Usage records published by outcome',
          description: 'Usage records handed to the collector per second, by outcome.',
          unit: 'ops',
          width: 8,
          targets: [
            prom(sumBy(['outcome'], rate(series(gateway.usagePublishTotal, gatewayInstance))), {
              legend: '{{outcome}}',
            }),
          ],
        }),
        timeseries({
          title: 'Usage pipeline errors',
          description:
            'Enqueue errors (queue full: record lost), ingest errors (record not built) and flush errors (batch write failed, retried) per second.',
          unit: 'ops',
          width: 8,
          links: failedUsageWrites,
          targets: [
            prom(sumBy([], rate(series(gateway.usageEnqueueErrorsTotal, gatewayInstance))), {
              legend: 'enqueue',
            }),
            prom(sumBy([], rate(series(gateway.usageIngestErrorsTotal, gatewayInstance))), {
              legend: 'ingest',
            }),
            prom(sumBy([], rate(series(gateway.usageFlushErrorsTotal, gatewayInstance))), {
              legend: 'flush',
            }),
          ],
        }),
        timeseries({
          title: 'Usage queue depth',
          description:
            'Records waiting to be written, per replica; a line that only grows means the store is not keeping up.',
          unit: 'short',
          width: 8,
          targets: [prom(series(gateway.usageQueueDepth, gatewayInstance), { legend: '{{instance}}' })],
        }),
        timeseries({
          title: 'Records written vs published',
          description:
            'Records written to the store against records published, per second: the gap is the queue growing.',
          unit: 'ops',
          width: 24,
          targets: [
            prom(sumBy([], rate(series(gateway.usageFlushedTotal, gatewayInstance))), { legend: 'written' }),
            prom(sumBy([], rate(series(gateway.usagePublishTotal, gatewayInstance))), {
              legend: 'published',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Async pools',
      panels: [
        timeseries({
          title: 'Pool queue depth',
          description: 'Tasks waiting in each async pool.',
          unit: 'short',
          width: 8,
          targets: [
            prom(sumBy(['async_pool_name'], series(gateway.asyncQueueDepth, gatewayInstance, pool)), {
              legend: '{{async_pool_name}}',
            }),
          ],
        }),
        timeseries({
          title: 'Pool tasks by outcome',
          description: 'Tasks finishing per second, by pool and outcome.',
          unit: 'ops',
          width: 8,
          targets: [
            prom(
              sumBy(
                ['async_pool_name', 'outcome'],
                rate(series(gateway.asyncTasksTotal, gatewayInstance, pool)),
              ),
              {
                legend: '{{async_pool_name}} {{outcome}}',
              },
            ),
          ],
        }),
        timeseries({
          title: 'Pool task latency p95',
          description: '95th percentile duration of a task, by pool.',
          unit: 's',
          width: 8,
          links: slowPoolTasks,
          targets: [
            prom(
              quantileOfRaw(
                0.95,
                ['async_pool_name'],
                series(`${gateway.asyncTaskDuration}_bucket`, gatewayInstance, pool),
              ),
              { legend: '{{async_pool_name}}' },
            ),
          ],
        }),
      ],
    },
  ],
});
