/**
 * Organizations Overview (stack spec, section 5): per-organisation traffic, tokens and cost,
 * for platform operators. Request counters carry no organisation (telemetry contract, label
 * policy), so traffic per organisation is read from the gateway's log lines in Loki and the
 * traces in Tempo; tokens and cost come from the tenant-labelled counters.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { grafanaVariable } from '../lib/grafana-variables.ts';
import { dashboardDataLink, drillDown } from '../lib/links.ts';
import { gatewayServiceName, gatewayStream } from '../lib/log-streams.ts';
import { stat, table, timeseries, traceSearch } from '../lib/panels.ts';
import { series, sumBy } from '../lib/promql.ts';
import { gateway, recorded } from '../lib/series.ts';
import { logql, prom, traceql } from '../lib/targets.ts';
import { organizationVariable, tokenModelVariable, tokenProviderVariable } from '../lib/tenant-variables.ts';
import { clickedLabel, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, lokiLabelValues } from '../lib/variables.ts';

const filters = ['provider=~"$provider"', 'model=~"$model"', 'organization_id=~"$organization"'];
const billable = series(recorded.tokensByModelAndOrganization, ...filters, 'token_class="billable"');
const cost = series(recorded.costByModelAndOrganization, ...filters);
const overRange = (metric: string, ...matchers: string[]) =>
  `increase(${series(metric, ...filters, ...matchers)}[$__range])`;

/** `organization_id` is structured metadata: filtered without parsing; lines outside a request have none. */
const organizationLines = `${gatewayStream} | organization_id!="" | organization_id=~"$organization"`;

const organizationRequests = drillDown({
  what: "this organisation's failed requests",
  traces: `{ ${spanNamed('httpRequest')} && ${spanAttribute('organizationId')} = "${clickedLabel('organization_id')}" && status = error }`,
  logFilter: ` | organization_id="${clickedLabel('organization_id')}" | level=~"error|warn"`,
});

export const organizations = defineDashboard({
  entry: dashboardIndex.organizations,
  description:
    'Per-organisation traffic (from logs and traces), billable tokens and cost. Operator view: it names every organisation.',
  tags: ['organizations'],
  variables: [
    datasourceVariable('prometheus'),
    datasourceVariable('loki'),
    datasourceVariable('tempo'),
    organizationVariable(),
    tokenProviderVariable(),
    tokenModelVariable(),
    lokiLabelValues({
      name: 'service',
      label: 'Service (Loki)',
      description: "The service_name stream label of the gateway's log lines.",
      labelName: 'service_name',
      current: gatewayServiceName,
    }),
  ],
  related: [dashboardIndex.tokenUsage, dashboardIndex.usageBudget, dashboardIndex.logsExplore],
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Active organisations',
          description: 'Organisations that used billable tokens in the last 5 minutes.',
          unit: 'short',
          width: 8,
          targets: [prom(`count(${sumBy(['organization_id'], billable)} > 0)`, { instant: true })],
        }),
        stat({
          title: 'Billable tokens',
          description: 'Billable tokens per second, selected organisations.',
          unit: 'suffix: tokens/s',
          width: 8,
          targets: [prom(sumBy([], billable), { instant: true })],
        }),
        stat({
          title: 'Cost rate',
          description: 'USD per hour at the current rate, selected organisations.',
          unit: 'currencyUSD',
          width: 8,
          targets: [prom(`${sumBy([], cost)} * 3600`, { instant: true })],
        }),
      ],
    },
    {
      title: 'Organisations',
      panels: [
        table({
          title: 'Organisations in the time range',
          description:
            'Billable tokens and cost per organisation over the selected range. Click an organisation id for its Token Usage view.',
          unit: 'short',
          width: 24,
          decimals: 2,
          links: [
            dashboardDataLink('Token usage of this organisation', dashboardIndex.tokenUsage, {
              organization: grafanaVariable('__data.fields.organization_id'),
            }),
          ],
          targets: [
            prom(sumBy(['organization_id'], overRange(gateway.tokensTotal, 'token_class="billable"')), {
              instant: true,
              table: true,
              legend: 'billable tokens',
            }),
            prom(sumBy(['organization_id'], overRange(gateway.costUsdTotal)), {
              instant: true,
              table: true,
              legend: 'cost (USD)',
            }),
          ],
          transformations: [
            { id: 'merge', options: {} },
            {
              id: 'organize',
              options: {
                excludeByName: { Time: true },
                renameByName: { 'Value #A': 'billable tokens', 'Value #B': 'cost (USD)' },
              },
            },
          ],
        }),
      ],
    },
    {
      title: 'Traffic, tokens and cost over time',
      panels: [
        timeseries({
          title: 'Log lines by organisation (traffic)',
          description:
            'Gateway log lines per second by organisation: a traffic proxy, since request counters carry no organisation.',
          unit: 'ops',
          width: 8,
          targets: [
            logql(`sum by (organization_id) (rate(${organizationLines} [$__auto]))`, {
              legend: '{{organization_id}}',
            }),
          ],
        }),
        timeseries({
          title: 'Billable tokens by organisation',
          description: 'Billable tokens per second by organisation. Click a series for its failed requests.',
          unit: 'suffix: tokens/s',
          width: 8,
          links: organizationRequests,
          targets: [prom(sumBy(['organization_id'], billable), { legend: '{{organization_id}}' })],
        }),
        timeseries({
          title: 'Cost by organisation',
          description: 'USD per hour at the rate of each moment, by organisation.',
          unit: 'currencyUSD',
          width: 8,
          targets: [prom(`${sumBy(['organization_id'], cost)} * 3600`, { legend: '{{organization_id}}' })],
        }),
        timeseries({
          title: 'Error log lines by organisation',
          description:
            "Warning and error log lines per second by organisation. Click a series for that organisation's failed traces and error logs.",
          unit: 'ops',
          links: organizationRequests,
          targets: [
            logql(`sum by (organization_id) (rate(${organizationLines} | level=~"error|warn" [$__auto]))`, {
              legend: '{{organization_id}}',
            }),
          ],
        }),
        traceSearch({
          title: 'Recent requests of the selected organisations',
          description:
            'Sampled request traces (head sampling: OBSERVABILITY_SAMPLE_RATE) of the selected organisations.',
          targets: [
            traceql(
              `{ ${spanNamed('httpRequest')} && ${spanAttribute('organizationId')} =~ "${grafanaVariable('organization:regex')}" } | select(${spanAttribute('route')}, ${spanAttribute('model')}, ${spanAttribute('provider')})`,
            ),
          ],
        }),
      ],
    },
  ],
});
