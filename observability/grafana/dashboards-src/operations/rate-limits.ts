/**
 * Rate Limit Dashboard (stack spec, section 5): decisions, rejections, and how each stage and
 * module behaves. A rejection is a policy doing its job; a sudden rise in one module is what
 * the drill-downs help explain (which keys, which routes).
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { stat, table, timeseries } from '../lib/panels.ts';
import { gatewayInstance, rate, series, sumBy } from '../lib/promql.ts';
import { gateway } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { clickedLabel, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const filters = [
  gatewayInstance,
  'ratelimit_stage=~"$ratelimit_stage"',
  'ratelimit_module=~"$ratelimit_module"',
];
const decisions = (...matchers: string[]) =>
  rate(series(gateway.ratelimitDecisionsTotal, ...filters, ...matchers));
const rejections = rate(series(gateway.ratelimitRejectionsTotal, ...filters));

const rejectedAtStage = drillDown({
  what: 'requests rejected at this stage',
  traces: `{ ${spanNamed('ratelimitStage')} && ${spanAttribute('ratelimitStage')} = "${clickedLabel('ratelimit_stage')}" && ${spanAttribute('decision')} = "reject" }`,
  logFilter: ` | ratelimit_stage="${clickedLabel('ratelimit_stage')}" | decision="reject"`,
});

const rejectedByModule = drillDown({
  what: 'requests rejected by this module',
  traces: `{ ${spanNamed('ratelimitStage')} && ${spanAttribute('ratelimitModule')} = "${clickedLabel('ratelimit_module')}" && ${spanAttribute('decision')} = "reject" }`,
  logFilter: ` | ratelimit_module="${clickedLabel('ratelimit_module')}" | decision="reject"`,
});

export const rateLimits = defineDashboard({
  entry: dashboardIndex.rateLimits,
  description: 'Rate-limit decisions and rejections per stage and module.',
  tags: ['operations', 'rate-limits'],
  variables: [
    datasourceVariable('prometheus'),
    gatewayInstanceVariable(),
    promLabelValues({
      name: 'ratelimit_stage',
      label: 'Stage',
      description: 'Rate-limit stages to include.',
      selector: `${gateway.ratelimitDecisionsTotal}{instance=~"$instance"}`,
      labelName: 'ratelimit_stage',
    }),
    promLabelValues({
      name: 'ratelimit_module',
      label: 'Module',
      description: 'Rate-limit modules to include.',
      selector: `${gateway.ratelimitDecisionsTotal}{instance=~"$instance", ratelimit_stage=~"$ratelimit_stage"}`,
      labelName: 'ratelimit_module',
    }),
  ],
  related: [dashboardIndex.gatewayRequests, dashboardIndex.backendSafety, dashboardIndex.usageBudget],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Decisions',
          description: 'Rate-limit decisions per second (one per request and stage).',
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], decisions()), { instant: true })],
        }),
        stat({
          title: 'Rejections',
          description: 'Requests rejected by a rate limit, per second.',
          unit: 'reqps',
          width: 8,
          targets: [prom(sumBy([], rejections), { instant: true })],
        }),
        stat({
          title: 'Rejection ratio',
          description: 'Reject decisions divided by all decisions.',
          unit: 'percentunit',
          width: 8,
          thresholds: [0.05, 0.2],
          targets: [
            prom(`${sumBy([], decisions('decision="reject"'))} / ${sumBy([], decisions())}`, {
              instant: true,
            }),
          ],
        }),
      ],
    },
    {
      title: 'Decisions',
      panels: [
        timeseries({
          title: 'Decisions by outcome',
          description: 'Allow and reject decisions per second, stacked.',
          unit: 'ops',
          stack: 'normal',
          targets: [prom(sumBy(['decision'], decisions()), { legend: '{{decision}}' })],
        }),
        timeseries({
          title: 'Rejection ratio by stage',
          description:
            "Share of each stage's decisions that rejected. Click a series for the rejected requests' traces and logs.",
          unit: 'percentunit',
          links: rejectedAtStage,
          targets: [
            prom(
              `${sumBy(['ratelimit_stage'], decisions('decision="reject"'))} / ${sumBy(['ratelimit_stage'], decisions())}`,
              { legend: '{{ratelimit_stage}}' },
            ),
          ],
        }),
        timeseries({
          title: 'Rejections by stage and module',
          description: 'Requests rejected per second, by the stage and module that rejected them.',
          unit: 'reqps',
          stack: 'normal',
          links: rejectedByModule,
          targets: [
            prom(sumBy(['ratelimit_stage', 'ratelimit_module'], rejections), {
              legend: '{{ratelimit_stage}} / {{ratelimit_module}}',
            }),
          ],
        }),
        table({
          title: 'Decisions in the time range',
          description: 'Decisions per stage, module and outcome over the whole selected time range.',
          unit: 'short',
          decimals: 0,
          targets: [
            prom(
              sumBy(
                ['ratelimit_stage', 'ratelimit_module', 'decision'],
                `increase(${series(gateway.ratelimitDecisionsTotal, ...filters)}[$__range])`,
              ),
              { instant: true, table: true },
            ),
          ],
        }),
      ],
    },
  ],
});
