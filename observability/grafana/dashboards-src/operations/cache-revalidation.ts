/**
 * Cache Revalidation Dashboard (stack spec, section 5): hit ratio per cache (auth, model,
 * policy, ...), the misses that send a look-up back to the store, and the invalidation traffic
 * carried over Redis publish/subscribe. The catalog has no invalidation counter of its own, so
 * invalidation traffic is read from the redis-exporter's command counters.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { gatewayInstanceVariable } from '../lib/gateway-variables.ts';
import { drillDown } from '../lib/links.ts';
import { stat, timeseries, traceSearch } from '../lib/panels.ts';
import { gatewayInstance, rate, series, sumBy } from '../lib/promql.ts';
import { gateway } from '../lib/series.ts';
import { prom, traceql } from '../lib/targets.ts';
import { clickedLabel, spanAttribute, spanNamed } from '../lib/traceql.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const lookups = (...matchers: string[]) =>
  rate(series(gateway.cacheLookupsTotal, gatewayInstance, 'cache=~"$cache"', ...matchers));

const missesOfCache = drillDown({
  what: 'cache misses',
  traces: `{ ${spanNamed('cacheLookup')} && ${spanAttribute('cacheHit')} = false }`,
  logFilter: ` | module="${clickedLabel('cache')}"`,
});

export const cacheRevalidation = defineDashboard({
  entry: dashboardIndex.cacheRevalidation,
  description:
    'Cache look-ups and hit ratio per cache, misses that go back to the store, and Redis pub/sub invalidation traffic.',
  tags: ['operations', 'cache'],
  variables: [
    datasourceVariable('prometheus'),
    datasourceVariable('tempo'),
    gatewayInstanceVariable(),
    promLabelValues({
      name: 'cache',
      label: 'Cache',
      description: 'Caches to include (auth, model, policy, ...).',
      selector: `${gateway.cacheLookupsTotal}{instance=~"$instance"}`,
      labelName: 'cache',
    }),
  ],
  related: [dashboardIndex.gatewayRequests, dashboardIndex.applications],
  carryVariables: true,
  rows: [
    {
      title: 'Overview',
      panels: [
        stat({
          title: 'Hit ratio',
          description: 'Look-ups answered from the cache, all selected caches.',
          unit: 'percentunit',
          width: 8,
          targets: [
            prom(`${sumBy([], lookups('cache_hit="true"'))} / ${sumBy([], lookups())}`, { instant: true }),
          ],
        }),
        stat({
          title: 'Look-ups',
          description: 'Cache look-ups per second.',
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], lookups()), { instant: true })],
        }),
        stat({
          title: 'Misses (revalidations)',
          description: 'Look-ups per second that missed and went back to the store.',
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], lookups('cache_hit="false"')), { instant: true })],
        }),
      ],
    },
    {
      title: 'Look-ups',
      panels: [
        timeseries({
          title: 'Hit ratio by cache',
          description: "Share of each cache's look-ups answered without going to the store.",
          unit: 'percentunit',
          max: 1,
          targets: [
            prom(`${sumBy(['cache'], lookups('cache_hit="true"'))} / ${sumBy(['cache'], lookups())}`, {
              legend: '{{cache}}',
            }),
          ],
        }),
        timeseries({
          title: 'Look-ups by cache and result',
          description: 'Look-ups per second by cache, hit or miss.',
          unit: 'ops',
          targets: [
            prom(sumBy(['cache', 'cache_hit'], lookups()), { legend: '{{cache}} hit={{cache_hit}}' }),
          ],
        }),
        timeseries({
          title: 'Misses by cache',
          description:
            'Look-ups per second that missed: each one reloads from the store. A burst right after an invalidation is expected; a plateau is not. Click for the spans.',
          unit: 'ops',
          links: missesOfCache,
          targets: [prom(sumBy(['cache'], lookups('cache_hit="false"')), { legend: '{{cache}}' })],
        }),
        traceSearch({
          title: 'Recent cache misses',
          description: 'Recent cache look-up spans that missed, with the module that looked up.',
          targets: [
            traceql(
              `{ ${spanNamed('cacheLookup')} && ${spanAttribute('cacheHit')} = false } | select(${spanAttribute('module')})`,
              { table: 'spans' },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Invalidation traffic (Redis pub/sub)',
      panels: [
        timeseries({
          title: 'Invalidation messages published',
          description: 'Redis PUBLISH commands per second: each replica announces invalidations this way.',
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], rate('redis_commands_total{cmd="publish"}')), { legend: 'publish' })],
        }),
        timeseries({
          title: 'Subscribed channels and patterns',
          description:
            'Pub/sub channels and patterns with at least one subscriber: one per listening replica and channel.',
          unit: 'short',
          width: 8,
          targets: [
            prom(sumBy([], 'redis_pubsub_channels'), { legend: 'channels' }),
            prom(sumBy([], 'redis_pubsub_patterns'), { legend: 'patterns' }),
          ],
        }),
        timeseries({
          title: 'Redis keyspace hit ratio',
          description:
            "Redis key look-ups that found the key (the shared cache behind the gateway's caches).",
          unit: 'percentunit',
          width: 8,
          max: 1,
          targets: [
            prom(
              `${sumBy([], rate('redis_keyspace_hits_total'))} / (${sumBy([], rate('redis_keyspace_hits_total'))} + ${sumBy([], rate('redis_keyspace_misses_total'))})`,
              { legend: 'hit ratio' },
            ),
          ],
        }),
      ],
    },
  ],
});
