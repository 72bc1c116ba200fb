/**
 * Infrastructure (stack spec, section 5): host CPU, memory, disk and network from node-exporter.
 * The infrastructure alerts (CPU above 85 %, memory above 90 %) open here; their thresholds are
 * drawn on the matching panels.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { rate, series, sumBy } from '../lib/promql.ts';
import { recorded } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const host = 'instance=~"$instance"';
const realFilesystems = 'fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs"';
const cpu = (...matchers: string[]) => series(recorded.hostCpuByMode, host, ...matchers);
const cpuBusy = (labels: string[]) => `1 - ${sumBy(labels, cpu('mode="idle"'))} / ${sumBy(labels, cpu())}`;
const memoryUsed = `1 - ${series('node_memory_MemAvailable_bytes', host)} / ${series('node_memory_MemTotal_bytes', host)}`;
const filesystem = (metric: string) => series(metric, host, realFilesystems, 'mountpoint=~"$mountpoint"');
const diskUsed = `1 - ${filesystem('node_filesystem_avail_bytes')} / ${filesystem('node_filesystem_size_bytes')}`;
const physicalDisks = 'device!~"loop.*|ram.*"';
const physicalInterfaces = 'device!~"lo|veth.*|docker.*|br-.*"';

export const infrastructure = defineDashboard({
  entry: dashboardIndex.infrastructure,
  description:
    'Hosts running the stack: CPU, load, memory, swap, disk space and I/O, network (node-exporter).',
  tags: ['infrastructure'],
  variables: [
    datasourceVariable('prometheus'),
    promLabelValues({
      name: 'instance',
      label: 'Host',
      description: 'node-exporter targets (one per host).',
      selector: 'node_uname_info',
      labelName: 'instance',
    }),
    promLabelValues({
      name: 'mountpoint',
      label: 'Mount point',
      description: 'File systems to chart (pseudo file systems are always left out).',
      selector: `node_filesystem_size_bytes{instance=~"$instance", ${realFilesystems}}`,
      labelName: 'mountpoint',
    }),
  ],
  related: [dashboardIndex.containers, dashboardIndex.applications],
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'CPU busy',
          description:
            'Share of CPU time not idle over the last 5 minutes, busiest selected host (alert above 85 %).',
          unit: 'percentunit',
          thresholds: [0.7, 0.85],
          targets: [prom(`max(${cpuBusy(['instance'])})`, { instant: true })],
        }),
        stat({
          title: 'Memory used',
          description: 'Share of memory not available to new work, fullest selected host (alert above 90 %).',
          unit: 'percentunit',
          thresholds: [0.8, 0.9],
          targets: [prom(`max(${memoryUsed})`, { instant: true })],
        }),
        stat({
          title: 'Fullest file system',
          description: 'Share of the fullest selected file system in use.',
          unit: 'percentunit',
          thresholds: [0.8, 0.9],
          targets: [prom(`max(${diskUsed})`, { instant: true })],
        }),
        stat({
          title: 'Load per core',
          description:
            '1-minute load average divided by the number of cores, busiest host; above 1 means a run queue.',
          unit: 'short',
          thresholds: [0.8, 1.5],
          targets: [
            prom(
              `max(${series('node_load1', host)} / on (instance) count by (instance) (${series('node_cpu_seconds_total', host, 'mode="idle"')}))`,
              { instant: true },
            ),
          ],
        }),
        stat({
          title: 'Uptime',
          description: 'Time since the most recently booted selected host started.',
          unit: 's',
          targets: [
            prom(`min(${series('node_time_seconds', host)} - ${series('node_boot_time_seconds', host)})`, {
              instant: true,
            }),
          ],
        }),
        stat({
          title: 'Hosts',
          description: 'node-exporter targets reporting.',
          unit: 'short',
          targets: [prom(`count(${series('node_uname_info', host)})`, { instant: true })],
        }),
      ],
    },
    {
      title: 'CPU and memory',
      panels: [
        timeseries({
          title: 'CPU busy by host',
          description: 'Share of CPU time not idle, per host; the dashed line is the alert threshold.',
          unit: 'percentunit',
          max: 1,
          thresholds: [0.85],
          showThresholds: true,
          targets: [prom(cpuBusy(['instance']), { legend: '{{instance}}' })],
        }),
        timeseries({
          title: 'CPU by mode',
          description: 'Share of all CPU time by mode (user, system, iowait, steal, ...), idle left out.',
          unit: 'percentunit',
          stack: 'normal',
          targets: [
            prom(`${sumBy(['mode'], cpu('mode!="idle"'))} / scalar(${sumBy([], cpu())})`, {
              legend: '{{mode}}',
            }),
          ],
        }),
        timeseries({
          title: 'Memory used by host',
          description:
            'Share of memory not available (MemAvailable against MemTotal); the dashed line is the alert threshold.',
          unit: 'percentunit',
          max: 1,
          thresholds: [0.9],
          showThresholds: true,
          targets: [prom(memoryUsed, { legend: '{{instance}}' })],
        }),
        timeseries({
          title: 'Load average',
          description: '1, 5 and 15-minute load averages, per host.',
          unit: 'short',
          targets: [
            prom(series('node_load1', host), { legend: '{{instance}} 1m' }),
            prom(series('node_load5', host), { legend: '{{instance}} 5m' }),
            prom(series('node_load15', host), { legend: '{{instance}} 15m' }),
          ],
        }),
        timeseries({
          title: 'Memory available and swap used',
          description: 'Bytes of memory available to new work, and swap in use.',
          unit: 'bytes',
          width: 24,
          targets: [
            prom(series('node_memory_MemAvailable_bytes', host), { legend: '{{instance}} available' }),
            prom(
              `${series('node_memory_SwapTotal_bytes', host)} - ${series('node_memory_SwapFree_bytes', host)}`,
              {
                legend: '{{instance}} swap used',
              },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Disk and network',
      panels: [
        timeseries({
          title: 'File system used',
          description: 'Share of each file system in use.',
          unit: 'percentunit',
          max: 1,
          thresholds: [0.9],
          showThresholds: true,
          targets: [prom(diskUsed, { legend: '{{instance}} {{mountpoint}}' })],
        }),
        timeseries({
          title: 'Disk throughput',
          description: 'Bytes per second read and written, per disk.',
          unit: 'Bps',
          targets: [
            prom(rate(series('node_disk_read_bytes_total', host, physicalDisks)), {
              legend: '{{instance}} {{device}} read',
            }),
            prom(rate(series('node_disk_written_bytes_total', host, physicalDisks)), {
              legend: '{{instance}} {{device}} written',
            }),
          ],
        }),
        timeseries({
          title: 'Disk busy',
          description: 'Share of time each disk had I/O in progress.',
          unit: 'percentunit',
          max: 1,
          targets: [
            prom(rate(series('node_disk_io_time_seconds_total', host, physicalDisks)), {
              legend: '{{instance}} {{device}}',
            }),
          ],
        }),
        timeseries({
          title: 'Network throughput',
          description: 'Bytes per second received and transmitted, per physical interface.',
          unit: 'Bps',
          targets: [
            prom(rate(series('node_network_receive_bytes_total', host, physicalInterfaces)), {
              legend: '{{instance}} {{device}} in',
            }),
            prom(rate(series('node_network_transmit_bytes_total', host, physicalInterfaces)), {
              legend: '{{instance}} {{device}} out',
            }),
          ],
        }),
      ],
    },
  ],
});
