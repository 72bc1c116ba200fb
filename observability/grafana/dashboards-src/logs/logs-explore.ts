/**
 * Logs Explorer: the gateway's log volume and lines filtered by level and free text, with the
 * requests that logged errors one click away from their Request Logs view, and Explore entry
 * points for ad-hoc LogQL.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { grafanaVariable } from '../lib/grafana-variables.ts';
import { dashboardDataLink, exploreLink, logsLink } from '../lib/links.ts';
import { gatewayServiceName, gatewayStreamFixed } from '../lib/log-streams.ts';
import { logs, table, timeseries } from '../lib/panels.ts';
import { logql } from '../lib/targets.ts';
import { customVariable, datasourceVariable, lokiLabelValues, textVariable } from '../lib/variables.ts';

/** `level` is a stream label, so the level choice narrows the streams Loki reads. */
const selected = '{service_name=~"$service", level=~"$level"} |= "$search"';

export const logsExplore = defineDashboard({
  entry: dashboardIndex.logsExplore,
  description:
    'Gateway log volume by level and route, the matching lines, and the requests that logged errors.',
  tags: ['logs'],
  timeFrom: 'now-1h',
  variables: [
    datasourceVariable('loki'),
    lokiLabelValues({
      name: 'service',
      label: 'Service (Loki)',
      description: 'service_name stream labels to include (the gateway by default).',
      labelName: 'service_name',
      current: gatewayServiceName,
    }),
    customVariable({
      name: 'level',
      label: 'Level',
      description: 'Log levels to include.',
      values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
      current: 'error',
      includeAll: true,
    }),
    textVariable({
      name: 'search',
      label: 'Line contains',
      description: 'Keep only lines containing this text (case-sensitive); empty keeps all.',
      defaultValue: '',
    }),
  ],
  related: [dashboardIndex.requestLogs, dashboardIndex.loggerHealth, dashboardIndex.tracesOverview],
  extraLinks: [
    exploreLink(
      'Gateway logs in Explore',
      logsLink("Open the gateway's log stream in Loki Explore", `${gatewayStreamFixed} | json`),
    ),
  ],
  rows: [
    {
      title: 'Volume',
      panels: [
        timeseries({
          title: 'Log lines by level',
          description: 'Lines per second matching the filters, by level.',
          unit: 'ops',
          stack: 'normal',
          targets: [logql(`sum by (level) (rate(${selected} [$__auto]))`, { legend: '{{level}}' })],
        }),
        timeseries({
          title: 'Log lines by route',
          description:
            'Lines per second matching the filters, by route template (lines outside a request have none).',
          unit: 'ops',
          targets: [logql(`sum by (route) (rate(${selected} [$__auto]))`, { legend: '{{route}}' })],
        }),
      ],
    },
    {
      title: 'Lines',
      panels: [
        logs({
          title: 'Log lines',
          description: "Lines matching the filters, newest first; a line's trace_id opens its trace.",
          targets: [logql(`${selected} | json`, { maxLines: 1000 })],
        }),
        table({
          title: 'Requests that logged the most matching lines',
          description:
            'Request ids with the most lines matching the filters in the range. Click an id for all of its lines.',
          unit: 'short',
          width: 24,
          decimals: 0,
          links: [
            dashboardDataLink('All lines of this request', dashboardIndex.requestLogs, {
              request_id: grafanaVariable('__data.fields.request_id'),
            }),
          ],
          targets: [
            logql(
              `topk(20, sum by (request_id) (count_over_time(${selected} | request_id!="" [$__range])))`,
              {
                instant: true,
              },
            ),
          ],
        }),
      ],
    },
  ],
});
