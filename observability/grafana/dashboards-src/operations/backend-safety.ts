/**
 * Backend Safety Dashboard (stack spec, section 5): SafetySec module runs, blocks, redactions
 * and decisions. Blocks and redactions carry no prompt text anywhere (telemetry contract,
 * section 5); the drill-downs lead to the spans and log lines that say which module decided.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { gatewayInstance, rate, series, sumBy } from '../lib/promql.ts';
import { gateway } from '../lib/series.ts';
import { prom } from '../lib/targets.ts';
import { clickedLabel, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const filters = [gatewayInstance, 'security_module=~"$security_module"'];
const runs = rate(series(gateway.securityModuleRunsTotal, ...filters));
const blocks = rate(series(gateway.securityBlocksTotal, ...filters));
const redactions = rate(series(gateway.securityRedactionsTotal, ...filters));
const decisions = rate(series(gateway.securityDecisionsTotal, ...filters));

const module = `${spanAttribute('securityModule')} = "${clickedLabel('security_module')}"`;

const blockedByModule = drillDown({
  what: 'requests this module blocked',
  traces: `{ ${spanNamed('securityModule')} && ${module} && ${spanAttribute('decision')} = "block" }`,
  logFilter: ` | security_module="${clickedLabel('security_module')}" | decision="block"`,
});

export const backendSafety = defineDashboard({
  entry: dashboardIndex.backendSafety,
  description: 'SafetySec modules: how often each runs, blocks and redacts, and the decisions they return.',
  tags: ['operations', 'safety'],
  variables: [
    datasourceVariable('prometheus'),
    gatewayInstanceVariable(),
    promLabelValues({
      name: 'security_module',
      label: 'Module',
      description: 'SafetySec modules to include.',
      selector: `${gateway.securityModuleRunsTotal}{instance=~"$instance"}`,
      labelName: 'security_module',
    }),
  ],
  related: [dashboardIndex.gatewayRequests, dashboardIndex.rateLimits],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Module runs',
          description: 'SafetySec module runs per second.',
          unit: 'ops',
          width: 6,
          targets: [prom(sumBy([], runs), { instant: true })],
        }),
        stat({
          title: 'Blocks',
          description: 'Requests or responses blocked per second.',
          unit: 'ops',
          width: 6,
          targets: [prom(sumBy([], blocks), { instant: true })],
        }),
        stat({
          title: 'Redactions',
          description: 'Redactions applied per second.',
          unit: 'ops',
          width: 6,
          targets: [prom(sumBy([], redactions), { instant: true })],
        }),
        stat({
          title: 'Block ratio',
          description: 'Blocks divided by module runs.',
          unit: 'percentunit',
          width: 6,
          thresholds: [0.05, 0.2],
          targets: [prom(`${sumBy([], blocks)} / ${sumBy([], runs)}`, { instant: true })],
        }),
      ],
    },
    {
      title: 'Modules',
      panels: [
        timeseries({
          title: 'Module runs by module and stage',
          description: 'Runs per second of each module at each pipeline stage (request or response side).',
          unit: 'ops',
          targets: [
            prom(sumBy(['security_module', 'plugin_stage'], runs), {
              legend: '{{security_module}} {{plugin_stage}}',
            }),
          ],
        }),
        timeseries({
          title: 'Decisions by outcome',
          description: 'Allow, block and redact decisions per second, stacked.',
          unit: 'ops',
          stack: 'normal',
          targets: [prom(sumBy(['decision'], decisions), { legend: '{{decision}}' })],
        }),
        timeseries({
          title: 'Blocks by module',
          description:
            "Blocks per second by module. Click a series for the blocked requests' traces and logs.",
          unit: 'ops',
          links: blockedByModule,
          targets: [prom(sumBy(['security_module'], blocks), { legend: '{{security_module}}' })],
        }),
        timeseries({
          title: 'Redactions by module',
          description: 'Redactions per second by module.',
          unit: 'ops',
          targets: [prom(sumBy(['security_module'], redactions), { legend: '{{security_module}}' })],
        }),
        timeseries({
          title: 'Block ratio by module',
          description: "Share of each module's runs that blocked.",
          unit: 'percentunit',
          width: 24,
          links: blockedByModule,
          targets: [
            prom(`${sumBy(['security_module'], blocks)} / ${sumBy(['security_module'], runs)}`, {
              legend: '{{security_module}}',
            }),
          ],
        }),
      ],
    },
  ],
});
