/**
 * Token Usage Dashboard (stack spec, section 5): token throughput by provider, model,
 * organisation and key, the concentration the token alerts watch, and cost. Tenant series come
 * from recording rules that drop the labels a panel does not need.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { drillDown } from '../lib/links.ts';
import { stat, table, timeseries, traceSearch } from '../lib/panels.ts';
import { series, sumBy } from '../lib/promql.ts';
import { gateway, recorded } from '../lib/series.ts';
import { prom, traceql } from '../lib/targets.ts';
import {
  apiKeyVariable,
  organizationVariable,
  tokenClassVariable,
  tokenModelVariable,
  tokenProviderVariable,
} from '../lib/tenant-variables.ts';
import { clickedLabel, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable } from '../lib/variables.ts';

const modelFilters = ['provider=~"$provider"', 'model=~"$model"', 'organization_id=~"$organization"'];
const tokens = (...matchers: string[]) =>
  series(recorded.tokensByModelAndOrganization, ...modelFilters, ...matchers);
const selectedClass = 'token_class=~"$token_class"';
const keyTokens = (...matchers: string[]) =>
  series(recorded.tokensByApiKey, 'organization_id=~"$organization"', 'api_key_id=~"$api_key"', ...matchers);
const cost = series(recorded.costByModelAndOrganization, ...modelFilters);

const largeRequestsOfOrganization = drillDown({
  what: "this organisation's requests",
  traces: `{ ${spanNamed('httpRequest')} && ${spanAttribute('organizationId')} = "${clickedLabel('organization_id')}" }`,
  logFilter: ` | organization_id="${clickedLabel('organization_id')}"`,
});

export const tokenUsage = defineDashboard({
  entry: dashboardIndex.tokenUsage,
  description:
    'Token throughput by provider, model, organisation and API key; concentration per tenant; cost in USD.',
  tags: ['operations', 'tokens'],
  variables: [
    datasourceVariable('prometheus'),
    datasourceVariable('tempo'),
    tokenProviderVariable(),
    tokenModelVariable(),
    organizationVariable(),
    apiKeyVariable(),
    tokenClassVariable(),
  ],
  related: [dashboardIndex.organizations, dashboardIndex.usageBudget, dashboardIndex.providers],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Billable tokens',
          description: 'Billable tokens per second (input + output, or embeddings) over the last 5 minutes.',
          unit: 'suffix: tokens/s',
          width: 6,
          targets: [prom(sumBy([], tokens('token_class="billable"')), { instant: true })],
        }),
        stat({
          title: 'Input / output tokens',
          description: 'Input and output tokens per second.',
          unit: 'suffix: tokens/s',
          width: 6,
          targets: [
            prom(sumBy([], tokens('token_class="input"')), { instant: true, legend: 'input' }),
            prom(sumBy([], tokens('token_class="output"')), { instant: true, legend: 'output' }),
          ],
        }),
        stat({
          title: 'Cost rate',
          description: 'Cost in USD per hour at the current rate, from the configured model pricing.',
          unit: 'currencyUSD',
          width: 6,
          targets: [prom(`${sumBy([], cost)} * 3600`, { instant: true })],
        }),
        stat({
          title: 'Billable tokens in range',
          description: 'Billable tokens over the whole selected time range.',
          unit: 'short',
          width: 6,
          targets: [
            prom(
              sumBy(
                [],
                `increase(${series(gateway.tokensTotal, ...modelFilters, 'token_class="billable"')}[$__range])`,
              ),
              { instant: true },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Throughput',
      panels: [
        timeseries({
          title: 'Tokens by class',
          description:
            'Tokens per second by class (input, output, cached, reasoning, embeddings, tool_input, tool_output, rejected). Billable is left out: it repeats input + output.',
          unit: 'suffix: tokens/s',
          stack: 'normal',
          targets: [
            prom(sumBy(['token_class'], tokens('token_class!="billable"')), { legend: '{{token_class}}' }),
          ],
        }),
        timeseries({
          title: 'Tokens by provider',
          description: 'Tokens per second of the selected class, by provider.',
          unit: 'suffix: tokens/s',
          targets: [prom(sumBy(['provider'], tokens(selectedClass)), { legend: '{{provider}}' })],
        }),
        timeseries({
          title: 'Tokens by model',
          description: 'Tokens per second of the selected class, by model.',
          unit: 'suffix: tokens/s',
          targets: [
            prom(sumBy(['provider', 'model'], tokens(selectedClass)), { legend: '{{provider}} {{model}}' }),
          ],
        }),
        timeseries({
          title: 'Tokens by organisation (top 10)',
          description:
            "Tokens per second of the selected class for the ten busiest organisations. Click a series for its requests' traces and logs.",
          unit: 'suffix: tokens/s',
          links: largeRequestsOfOrganization,
          targets: [
            prom(`topk(10, ${sumBy(['organization_id'], tokens(selectedClass))})`, {
              legend: '{{organization_id}}',
            }),
          ],
        }),
        timeseries({
          title: 'Tokens by API key (top 10)',
          description:
            'Tokens per second of the selected class for the ten busiest keys (provider and model filters do not apply: this series keeps only tenant labels).',
          unit: 'suffix: tokens/s',
          targets: [
            prom(`topk(10, ${sumBy(['organization_id', 'api_key_id'], keyTokens(selectedClass))})`, {
              legend: '{{organization_id}} / {{api_key_id}}',
            }),
          ],
        }),
        table({
          title: 'Busiest keys in the time range',
          description: 'Billable tokens per key over the whole selected time range.',
          unit: 'short',
          decimals: 0,
          targets: [
            prom(
              `topk(20, ${sumBy(
                ['organization_id', 'api_key_id'],
                `increase(${series(gateway.tokensTotal, 'organization_id=~"$organization"', 'api_key_id=~"$api_key"', 'token_class="billable"')}[$__range])`,
              )})`,
              { instant: true, table: true },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Concentration',
      panels: [
        timeseries({
          title: 'Organisation share of tokens',
          description:
            "Each organisation's share of all tokens of the selected class (the concentration alert fires above 60 % for 15 minutes).",
          unit: 'percentunit',
          max: 1,
          thresholds: [0.6],
          showThresholds: true,
          targets: [
            prom(
              `${sumBy(['organization_id'], tokens(selectedClass))} / scalar(${sumBy([], tokens(selectedClass))})`,
              { legend: '{{organization_id}}' },
            ),
          ],
        }),
        timeseries({
          title: "Key share of its organisation's tokens",
          description:
            "Each key's share of its organisation's tokens of the selected class (the key-concentration alert fires above 80 %).",
          unit: 'percentunit',
          max: 1,
          thresholds: [0.8],
          showThresholds: true,
          targets: [
            prom(
              `${sumBy(['organization_id', 'api_key_id'], keyTokens(selectedClass))} / on (organization_id) group_left ${sumBy(['organization_id'], keyTokens(selectedClass))}`,
              { legend: '{{organization_id}} / {{api_key_id}}' },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Cost and large requests',
      panels: [
        timeseries({
          title: 'Cost by provider and model',
          description: 'USD per hour at the rate of each moment, by provider and model.',
          unit: 'currencyUSD',
          targets: [
            prom(`${sumBy(['provider', 'model'], cost)} * 3600`, { legend: '{{provider}} {{model}}' }),
          ],
        }),
        traceSearch({
          title: 'Large upstream requests',
          description:
            'Recent upstream attempts with more than 10,000 input tokens (GenAI semantic-convention attributes on the provider span).',
          targets: [
            traceql(
              `{ ${spanNamed('providerRequest')} && ${spanAttribute('genAiUsageInputTokens')} > 10000 } | select(${spanAttribute('genAiRequestModel')}, ${spanAttribute('genAiUsageOutputTokens')}, ${spanAttribute('organizationId')})`,
              { table: 'spans' },
            ),
          ],
        }),
      ],
    },
  ],
});
