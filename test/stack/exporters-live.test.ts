/**
 * Third-party metric names, verified live (issue point 8): Debian's node, postgres and redis
 * exporters are started on free loopback ports (postgres-exporter against 127.0.0.1:5432, the
 * suite's PostgreSQL, redis-exporter against 127.0.0.1:6379), scraped, and every name
 * observability/third-party-metrics.yml lists for them must be exposed, with the labels the alert
 * rules select on. The exporters are stopped (by their own pid) after the test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postgresTestUrl } from '../../src/storage/test-databases.ts';
import { readPromql } from './promql-selectors.ts';
import { type BackgroundProcess, freePort, readYaml, start, waitForHttp } from './stack-files.ts';

interface Source {
  component: string;
  verified: string;
  metrics: string[];
}

const sources = readYaml<{ sources: Record<string, Source> }>(
  'observability',
  'third-party-metrics.yml',
).sources;
const alertExpressions = readYaml<{ groups: { rules: { expr: string }[] }[] }>(
  'observability',
  'prometheus',
  'rules',
  'alerts.yml',
).groups.flatMap((group) => group.rules.map((rule) => rule.expr));

/** Metric name -> the label names of its series, from a Prometheus text exposition. */
function exposedSeries(text: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!match) continue;
    const labels = series.get(match[1]!) ?? new Set<string>();
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1]!);
    series.set(match[1]!, labels);
  }
  return series;
}

interface Exporter {
  readonly source: string;
  readonly command: string;
  readonly args: (port: number) => Promise<string[]>;
  readonly environment?: () => Promise<NodeJS.ProcessEnv>;
  readonly upMetric?: string;
}

const exporters: Exporter[] = [
  {
    source: 'node-exporter',
    command: 'prometheus-node-exporter',
    args: async (port) => [`--web.listen-address=127.0.0.1:${port}`],
  },
  {
    source: 'postgres-exporter',
    command: 'prometheus-postgres-exporter',
    args: async (port) => [`--web.listen-address=127.0.0.1:${port}`],
    environment: async () => {
      const url = new URL(await postgresTestUrl());
      assert.equal(url.host, '127.0.0.1:5432', 'the suite PostgreSQL');
      url.searchParams.set('sslmode', 'disable');
      return { ...process.env, DATA_SOURCE_NAME: url.toString() };
    },
    upMetric: 'pg_up',
  },
  {
    source: 'redis-exporter',
    command: 'prometheus-redis-exporter',
    args: async (port) => [`-web.listen-address=127.0.0.1:${port}`, '-redis.addr=redis://127.0.0.1:6379'],
    upMetric: 'redis_up',
  },
];

for (const exporter of exporters) {
  describe(`${exporter.source} (Debian ${exporter.command}), live`, () => {
    let running: BackgroundProcess | undefined;
    let exposition = '';

    before(async () => {
      const port = await freePort();
      running = start(exporter.command, await exporter.args(port), await exporter.environment?.());
      await waitForHttp(`http://127.0.0.1:${port}/metrics`, running);
      exposition = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    });
    after(async () => running?.stop());

    test('exposes every name third-party-metrics.yml lists for it', () => {
      const source = sources[exporter.source];
      assert.ok(source, `no source ${exporter.source}`);
      assert.match(source.verified, /^live: /, 'documented as verified live');
      const exposed = exposedSeries(exposition);
      const missing = source.metrics.filter(
        (metric) =>
          !exposed.has(metric) && !['_bucket', '_count'].some((suffix) => exposed.has(metric + suffix)),
      );
      assert.deepEqual(missing, []);
    });

    test('carries the labels the alert rules select on', () => {
      const exposed = exposedSeries(exposition);
      const listed = new Set(sources[exporter.source]!.metrics);
      let checked = 0;
      for (const expression of alertExpressions)
        for (const selector of readPromql(expression).selectors.filter((s) => listed.has(s.metric))) {
          for (const label of selector.matchers.filter((name) => !['job', 'instance'].includes(name))) {
            assert.ok(
              exposed.get(selector.metric)?.has(label),
              `${selector.metric} has no label ${label} live`,
            );
            checked++;
          }
          assert.ok(exposed.has(selector.metric), `${selector.metric} is not exposed`);
          checked++;
        }
      assert.ok(checked > 0, 'no alert reads this exporter');
    });

    if (exporter.upMetric !== undefined)
      test(`${exporter.upMetric} is 1: the store behind it is reachable`, () => {
        assert.match(exposition, new RegExp(`^${exporter.upMetric} 1$`, 'm'));
      });
  });
}
