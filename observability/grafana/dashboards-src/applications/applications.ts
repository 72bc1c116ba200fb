/**
 * Applications (stack spec, section 5): views shared by every service of the stack: which
 * scrape targets are up, the gateway's build and Node.js runtime (event loop, heap, GC, RSS,
 * CPU) per service and instance, the data stores behind it, the edge proxy and the monitoring
 * stack itself. The service-down, data-store and metrics-missing alerts open here.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { drillDown } from '../lib/links.ts';
import { stat, stateTimeline, table, timeseries } from '../lib/panels.ts';
import { quantileOfRaw, rate, series, sumBy } from '../lib/promql.ts';
import { runtime } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { clickedValue, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const target = ['job=~"$job"', 'instance=~"$instance"'];
const ofTargets = (metric: string) => series(metric, ...target);

const slowEdgeRequests = drillDown({
  what: 'gateway requests slower than this point',
  traces: `{ ${spanNamed('httpRequest')} && duration > ${clickedValue}s }`,
  logFilter: '',
});

export const applications = defineDashboard({
  entry: dashboardIndex.applications,
  description:
    'Every service of the stack: targets up, build, Node.js runtime per instance, Postgres and Redis, the Traefik edge, and Prometheus itself.',
  tags: ['applications'],
  variables: [
    datasourceVariable('prometheus'),
    promLabelValues({
      name: 'job',
      label: 'Service',
      description: 'Scrape jobs (one per service of the stack).',
      selector: 'up',
      labelName: 'job',
    }),
    promLabelValues({
      name: 'instance',
      label: 'Instance',
      description: 'Scrape targets of the selected services.',
      selector: 'up{job=~"$job"}',
      labelName: 'instance',
    }),
  ],
  related: [
    dashboardIndex.infrastructure,
    dashboardIndex.containers,
    dashboardIndex.gatewayRequests,
    dashboardIndex.usageBudget,
  ],
  rows: [
    {
      title: 'Targets',
      panels: [
        stat({
          title: 'Targets up',
          description: 'Scrape targets answering, out of all configured targets of the selected services.',
          unit: 'short',
          width: 6,
          targets: [prom(`sum(${series('up', ...target)})`, { instant: true, legend: 'up' })],
        }),
        stat({
          title: 'Targets down',
          description: 'Scrape targets not answering (the service-down alert fires after 2 minutes).',
          unit: 'short',
          width: 6,
          thresholds: [1],
          targets: [prom(`count(${series('up', ...target)} == 0) or vector(0)`, { instant: true })],
        }),
        stat({
          title: 'Postgres',
          description: 'postgres-exporter reaching the database (pg_up).',
          unit: 'short',
          width: 6,
          upDown: true,
          targets: [prom('min(pg_up)', { instant: true })],
        }),
        stat({
          title: 'Redis',
          description: 'redis-exporter reaching Redis (redis_up).',
          unit: 'short',
          width: 6,
          upDown: true,
          targets: [prom('min(redis_up)', { instant: true })],
        }),
        stateTimeline({
          title: 'Target up/down over time',
          description: "Each scrape target's up series: green answering, red not.",
          unit: 'short',
          targets: [prom(series('up', ...target), { legend: '{{job}} {{instance}}' })],
        }),
      ],
    },
    {
      title: 'Gateway build and process',
      panels: [
        table({
          title: 'Build',
          description: 'The version each gateway instance runs (gateway_build_info), and its uptime.',
          unit: 's',
          width: 12,
          targets: [
            prom(
              `${ofTargets(runtime.buildInfo)} * on (job, instance) group_left ${ofTargets(runtime.uptime)}`,
              {
                instant: true,
                table: true,
              },
            ),
          ],
          transformations: [
            {
              id: 'organize',
              options: { excludeByName: { Time: true, __name__: true }, renameByName: { Value: 'uptime' } },
            },
          ],
        }),
        timeseries({
          title: 'Resident memory',
          description: 'Resident set size per instance.',
          unit: 'bytes',
          width: 6,
          targets: [prom(ofTargets(runtime.residentMemory), { legend: '{{job}} {{instance}}' })],
        }),
        timeseries({
          title: 'CPU',
          description: 'CPU cores used per instance (user + system time per second).',
          unit: 'short',
          width: 6,
          targets: [prom(rate(ofTargets(runtime.cpuTime)), { legend: '{{job}} {{instance}}' })],
        }),
      ],
    },
    {
      title: 'Node.js runtime',
      panels: [
        timeseries({
          title: 'Event loop delay',
          description: 'Event loop delay percentiles and maximum since the previous scrape, per instance.',
          unit: 's',
          targets: [
            prom(ofTargets(runtime.eventLoopDelayP50), { legend: '{{instance}} p50' }),
            prom(ofTargets(runtime.eventLoopDelayP90), { legend: '{{instance}} p90' }),
            prom(ofTargets(runtime.eventLoopDelayP99), { legend: '{{instance}} p99' }),
            prom(ofTargets(runtime.eventLoopDelayMax), { legend: '{{instance}} max' }),
          ],
        }),
        timeseries({
          title: 'Event loop utilization',
          description: 'Share of time the event loop was busy; near 100 % the process is CPU-bound.',
          unit: 'percentunit',
          max: 1,
          thresholds: [0.7, 0.9],
          showThresholds: true,
          targets: [prom(ofTargets(runtime.eventLoopUtilization), { legend: '{{instance}}' })],
        }),
        timeseries({
          title: 'Heap used and limit',
          description: 'V8 heap used and heap size, all spaces, per instance.',
          unit: 'bytes',
          targets: [
            prom(sumBy(['instance'], ofTargets(runtime.heapUsed)), { legend: '{{instance}} used' }),
            prom(sumBy(['instance'], ofTargets(runtime.heapLimit)), { legend: '{{instance}} size' }),
          ],
        }),
        timeseries({
          title: 'Heap used by space',
          description: 'V8 heap used per heap space (new, old, code, large object, ...).',
          unit: 'bytes',
          stack: 'normal',
          targets: [
            prom(sumBy(['v8js_heap_space_name'], ofTargets(runtime.heapUsed)), {
              legend: '{{v8js_heap_space_name}}',
            }),
          ],
        }),
        timeseries({
          title: 'GC pause p95 by kind',
          description:
            '95th percentile garbage-collection pause, by kind (minor, major, incremental, weakcb).',
          unit: 's',
          targets: [
            prom(quantileOfRaw(0.95, ['v8js_gc_type'], ofTargets(`${runtime.gcDuration}_bucket`)), {
              legend: '{{v8js_gc_type}}',
            }),
          ],
        }),
        timeseries({
          title: 'Time in GC',
          description:
            'Seconds of GC pause per second, per instance: the share of time the process was stopped.',
          unit: 'percentunit',
          targets: [
            prom(sumBy(['instance'], rate(ofTargets(`${runtime.gcDuration}_sum`))), {
              legend: '{{instance}}',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Data stores',
      panels: [
        timeseries({
          title: 'Postgres connections',
          description: 'Backends connected to each database, against max_connections.',
          unit: 'short',
          width: 8,
          targets: [
            prom(sumBy(['datname'], 'pg_stat_database_numbackends'), { legend: '{{datname}}' }),
            prom('max(pg_settings_max_connections)', { legend: 'max_connections' }),
          ],
        }),
        timeseries({
          title: 'Postgres transactions',
          description: 'Commits and rollbacks per second, all databases.',
          unit: 'ops',
          width: 8,
          targets: [
            prom(sumBy([], rate('pg_stat_database_xact_commit')), { legend: 'commit' }),
            prom(sumBy([], rate('pg_stat_database_xact_rollback')), { legend: 'rollback' }),
          ],
        }),
        timeseries({
          title: 'Redis memory',
          description: 'Redis memory used, against maxmemory when one is set.',
          unit: 'bytes',
          width: 8,
          targets: [
            prom(sumBy([], 'redis_memory_used_bytes'), { legend: 'used' }),
            prom('max(redis_memory_max_bytes) > 0', { legend: 'maxmemory' }),
          ],
        }),
      ],
    },
    {
      title: 'Edge proxy and monitoring',
      panels: [
        timeseries({
          title: 'Traefik requests by status code',
          description: 'Requests per second through the Traefik entry points, by HTTP status code.',
          unit: 'reqps',
          width: 8,
          targets: [prom(sumBy(['code'], rate('traefik_entrypoint_requests_total')), { legend: '{{code}}' })],
        }),
        timeseries({
          title: 'Traefik latency p95',
          description:
            '95th percentile request duration at the edge, gateway time included. Click a point for the gateway traces slower than it.',
          unit: 's',
          width: 8,
          links: slowEdgeRequests,
          targets: [
            prom(quantileOfRaw(0.95, ['entrypoint'], 'traefik_entrypoint_request_duration_seconds_bucket'), {
              legend: '{{entrypoint}}',
            }),
          ],
        }),
        timeseries({
          title: 'Prometheus rule evaluation failures',
          description:
            'Rule evaluations per second that failed (a broken alert or recording rule), and notifications dropped on the way to Alertmanager.',
          unit: 'ops',
          width: 8,
          targets: [
            prom(sumBy(['rule_group'], rate('prometheus_rule_evaluation_failures_total')), {
              legend: '{{rule_group}}',
            }),
            prom(sumBy([], rate('prometheus_notifications_dropped_total')), {
              legend: 'notifications dropped',
            }),
          ],
        }),
      ],
    },
  ],
});
