/**
 * Containers (stack spec, section 5): per-container CPU, memory, network, file-system I/O and
 * restarts from cAdvisor. cAdvisor also reports cgroups that are not containers; `name!=""`
 * keeps only named containers. The restart-loop alert opens here.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { stat, table, timeseries } from '../lib/panels.ts';
import { rate, series, sumBy } from '../lib/promql.ts';
import { recorded } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const containerFilters = ['instance=~"$instance"', 'name=~"$container"', 'name!=""'];
const container = (metric: string) => series(metric, ...containerFilters);
const cpu = series(recorded.containerCpu, 'instance=~"$instance"', 'name=~"$container"');

export const containers = defineDashboard({
  entry: dashboardIndex.containers,
  description:
    'Per-container CPU, memory against limit, network, file-system I/O, restarts and OOM kills (cAdvisor).',
  tags: ['containers'],
  variables: [
    datasourceVariable('prometheus'),
    promLabelValues({
      name: 'instance',
      label: 'cAdvisor',
      description: 'cAdvisor targets (one per Docker host).',
      selector: 'container_last_seen',
      labelName: 'instance',
    }),
    promLabelValues({
      name: 'container',
      label: 'Container',
      description: 'Containers (cAdvisor label `name`) to include.',
      selector: 'container_last_seen{instance=~"$instance", name!=""}',
      labelName: 'name',
    }),
  ],
  related: [dashboardIndex.infrastructure, dashboardIndex.applications],
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Containers',
          description: 'Named containers cAdvisor currently reports.',
          unit: 'short',
          width: 6,
          targets: [prom(`count(${container('container_last_seen')})`, { instant: true })],
        }),
        stat({
          title: 'Restarts in range',
          description:
            'Container start-time changes over the time range (the restart-loop alert fires above 3 in 15 minutes).',
          unit: 'short',
          width: 6,
          decimals: 0,
          thresholds: [1, 4],
          targets: [
            prom(`sum(changes(${container('container_start_time_seconds')}[$__range]))`, { instant: true }),
          ],
        }),
        stat({
          title: 'OOM kills in range',
          description: 'Out-of-memory kills over the time range.',
          unit: 'short',
          width: 6,
          decimals: 0,
          thresholds: [1],
          targets: [
            prom(`sum(increase(${container('container_oom_events_total')}[$__range]))`, { instant: true }),
          ],
        }),
        stat({
          title: 'CPU cores in use',
          description: 'CPU cores used by the selected containers together.',
          unit: 'short',
          width: 6,
          targets: [prom(sumBy([], cpu), { instant: true })],
        }),
      ],
    },
    {
      title: 'CPU and memory',
      panels: [
        timeseries({
          title: 'CPU by container',
          description: 'CPU cores used per container (1 = one full core).',
          unit: 'short',
          targets: [prom(sumBy(['name'], cpu), { legend: '{{name}}' })],
        }),
        timeseries({
          title: 'CPU throttling by container',
          description: 'Seconds per second each container was throttled by its CPU quota.',
          unit: 'percentunit',
          targets: [
            prom(sumBy(['name'], rate(container('container_cpu_cfs_throttled_seconds_total'))), {
              legend: '{{name}}',
            }),
          ],
        }),
        timeseries({
          title: 'Memory working set by container',
          description: 'Working-set bytes per container (what the OOM killer looks at).',
          unit: 'bytes',
          targets: [
            prom(sumBy(['name'], container('container_memory_working_set_bytes')), { legend: '{{name}}' }),
          ],
        }),
        timeseries({
          title: 'Memory against limit',
          description:
            "Working set as a share of the container's memory limit (containers without a limit are left out).",
          unit: 'percentunit',
          max: 1,
          thresholds: [0.8, 0.9],
          showThresholds: true,
          targets: [
            prom(
              `${sumBy(['name'], container('container_memory_working_set_bytes'))} / (${sumBy(['name'], container('container_spec_memory_limit_bytes'))} > 0)`,
              { legend: '{{name}}' },
            ),
          ],
        }),
      ],
    },
    {
      title: 'I/O and restarts',
      panels: [
        timeseries({
          title: 'Network by container',
          description: 'Bytes per second received and transmitted per container.',
          unit: 'Bps',
          targets: [
            prom(sumBy(['name'], rate(container('container_network_receive_bytes_total'))), {
              legend: '{{name}} in',
            }),
            prom(sumBy(['name'], rate(container('container_network_transmit_bytes_total'))), {
              legend: '{{name}} out',
            }),
          ],
        }),
        timeseries({
          title: 'File-system I/O by container',
          description: 'Bytes per second read and written per container.',
          unit: 'Bps',
          targets: [
            prom(sumBy(['name'], rate(container('container_fs_reads_bytes_total'))), {
              legend: '{{name}} read',
            }),
            prom(sumBy(['name'], rate(container('container_fs_writes_bytes_total'))), {
              legend: '{{name}} write',
            }),
          ],
        }),
        table({
          title: 'Restarts in the last 15 minutes',
          description: 'Start-time changes per container over 15 minutes; above 3 is a restart loop.',
          unit: 'short',
          width: 24,
          decimals: 0,
          thresholds: [1, 4],
          targets: [
            prom(sumBy(['name'], `changes(${container('container_start_time_seconds')}[15m])`), {
              instant: true,
              table: true,
            }),
          ],
        }),
      ],
    },
  ],
});
