/**
 * The telemetry catalog (`src/observability/catalog.ts`) is the one copy of the contract: every
 * `gateway_*` or runtime series a dashboard or rule names must exist there with the labels the
 * query selects and groups on, every catalog metric must be shown or alerted on somewhere, and
 * every other series must be a documented third-party name. Recording rules follow
 * `level:metric:operations` and are all used. Log and trace queries use the catalog's log
 * fields, span names and span attributes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { queryableLogLabels } from '../../observability/grafana/dashboards-src/lib/log-streams.ts';
import { recorded as recordedByDashboards } from '../../observability/grafana/dashboards-src/lib/series.ts';
import {
  logFields,
  metricCatalog,
  resourceLogFields,
  runtimeMetricCatalog,
  spanAttributes,
  spanNames,
} from '../../src/observability/catalog.ts';
import { analysePromql, type SeriesResolver } from './promql-labels.ts';
import {
  committedDashboards,
  dashboardQueries,
  linkPlaceholder,
  type Query,
  repositoryRoot,
  ruleFiles,
  ruleQueries,
} from './query-inventory.ts';
import { logqlLabelNames, traceqlNames } from './query-names.ts';
import {
  catalogMetricNames,
  catalogMetricOf,
  catalogSeries,
  type RecordedSeries,
  seriesResolver,
  thirdPartyBaseName,
  thirdPartySources,
} from './series-catalog.ts';

const rules = ruleFiles();
const { resolve, recorded } = seriesResolver(rules);
const dashboardQueryList = committedDashboards().flatMap(dashboardQueries);
const promqlQueries = [...dashboardQueryList, ...ruleQueries()].filter(
  (query) => query.language === 'promql',
);

/** Series selected by a query (a `label_values` variable selects through its selector). */
function analyse(query: Query, resolver: SeriesResolver = resolve) {
  if (query.labelValues !== undefined) {
    if (query.labelValues.selector === undefined) return { series: [], problems: [], labels: 'any' as const };
    const analysis = analysePromql(query.text, resolver);
    const label = query.labelValues.label;
    const problems =
      analysis.labels !== 'any' && !analysis.labels.has(label)
        ? [...analysis.problems, `label_values(..., ${label}): the selector's series carry no "${label}"`]
        : analysis.problems;
    return { ...analysis, problems };
  }
  return analysePromql(query.text, resolver);
}

const analyses = promqlQueries.map((query) => ({ query, analysis: analyse(query) }));

// ---------------------------------------------------------------------------------------------
// The analysis itself, on expressions with known defects: it must find each.

test('the label analysis finds unknown series, unknown labels, bad grouping and rated gauges', () => {
  const problemsOf = (expr: string) => analysePromql(expr, resolve).problems;
  assert.deepEqual(problemsOf('sum by (route) (rate(gateway_requests_total{instance=~".*"}[5m]))'), []);
  assert.match(problemsOf('rate(gateway_request_total[5m])').join(), /unknown series gateway_request_total/);
  assert.match(problemsOf('rate(gateway_requests_total{provider="x"}[5m])').join(), /no label "provider"/);
  assert.match(
    problemsOf('sum by (organization_id) (rate(gateway_requests_total[5m]))').join(),
    /carries no "organization_id"/,
  );
  assert.match(problemsOf('rate(gateway_requests_in_flight[5m])').join(), /not a counter/);
  assert.match(
    problemsOf(
      'histogram_quantile(0.9, sum by (route) (rate(gateway_request_duration_seconds_bucket[5m])))',
    ).join(),
    /without an "le" label/,
  );
  assert.match(problemsOf('rate(gateway_request_duration_seconds[5m])').join(), /unknown series/);
  assert.match(
    problemsOf(
      'sum by (route) (rate(gateway_requests_total[5m])) / sum by (provider) (rate(gateway_provider_requests_total[5m]))',
    ).join(),
    /no series would ever match/,
  );
  assert.match(
    problemsOf(
      'sum by (route) (rate(gateway_requests_total[5m])) / on (provider) sum by (route) (rate(gateway_requests_total[5m]))',
    ).join(),
    /on \(provider\)/,
  );
  assert.match(
    problemsOf('instance_route_status_class:gateway_requests:rate5m{provider="x"}').join(),
    /no label "provider"/,
  );
  assert.match(
    problemsOf('rate(instance_route_status_class:gateway_requests:rate5m[5m])').join(),
    /not a counter/,
  );
  assert.match(
    problemsOf('rate(node_cpu_secondz_total[5m])').join(),
    /unknown series node_cpu_secondz_total/,
  );
  assert.deepEqual(
    problemsOf('histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket[5m])))'),
    [],
  );
});

// ---------------------------------------------------------------------------------------------
// Third-party names

test('the third-party list documents each source and holds no catalog name', () => {
  const sources = thirdPartySources();
  assert.ok(
    sources.length >= 8,
    'expected node, cAdvisor, postgres, redis, Collector, Prometheus, Loki, Tempo, Traefik',
  );
  const seen = new Map<string, string>();
  const catalogNames = new Set([...catalogSeries().keys(), ...catalogMetricNames()]);
  for (const source of sources) {
    for (const field of ['component', 'reference', 'verified'] as const)
      assert.ok(
        typeof source[field] === 'string' && source[field] !== '',
        `third-party source ${source.id} needs a ${field}`,
      );
    assert.ok(source.metrics.length > 0, `third-party source ${source.id} lists no metric`);
    for (const name of source.metrics) {
      assert.match(name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/, `${source.id}: "${name}" is not a metric name`);
      assert.ok(
        !name.startsWith('gateway_') && !catalogNames.has(name),
        `${name} belongs to the catalog, not the third-party list`,
      );
      assert.ok(!seen.has(name), `${name} is listed under both ${seen.get(name)} and ${source.id}`);
      seen.set(name, source.id);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Names and labels of every PromQL query

test('every series a dashboard or rule selects is known, with the labels the query uses', () => {
  const problems = analyses.flatMap(({ query, analysis }) =>
    analysis.problems.map((problem) => `${query.origin}: ${problem}\n    ${query.text}`),
  );
  assert.deepEqual(problems, []);
});

test('every gateway_* series named anywhere is a catalog series', () => {
  const strays = analyses.flatMap(({ query, analysis }) =>
    analysis.series
      .filter((name) => name.startsWith('gateway_') && catalogMetricOf(name) === undefined)
      .map((name) => `${query.origin}: ${name}`),
  );
  assert.deepEqual(strays, []);
});

test('every non-catalog, non-recorded series is on the third-party list', () => {
  const listed = new Set(thirdPartySources().flatMap((source) => source.metrics));
  const unlisted = analyses.flatMap(({ query, analysis }) =>
    analysis.series
      .filter(
        (name) =>
          catalogMetricOf(name) === undefined &&
          !recorded.has(name) &&
          thirdPartyBaseName(name, listed) === undefined,
      )
      .map((name) => `${query.origin}: ${name}`),
  );
  assert.deepEqual(unlisted, []);
});

test('every catalog metric is used by at least one dashboard or rule', () => {
  const used = new Set(
    analyses
      .flatMap(({ analysis }) => analysis.series.map(catalogMetricOf))
      .filter((name) => name !== undefined),
  );
  const unused = catalogMetricNames().filter((name) => !used.has(name));
  assert.deepEqual(unused, [], 'catalog metrics no dashboard shows and no rule watches');
  assert.equal(
    catalogMetricNames().length,
    Object.keys(metricCatalog).length + Object.keys(runtimeMetricCatalog).length,
  );
});

// ---------------------------------------------------------------------------------------------
// Recording rules

/** The `level:metric:operations` convention (https://prometheus.io/docs/practices/rules/). */
function conventionProblems(series: RecordedSeries): string[] {
  const parts = series.name.split(':');
  if (parts.length !== 3) return [`${series.name}: not level:metric:operations`];
  const [level, metric, operations] = parts as [string, string, string];
  const problems = [...series.problems];
  if (series.labels === 'any')
    problems.push(`${series.name}: its labels cannot be inferred (aggregate by explicit labels)`);
  else if (level !== [...series.labels].join('_'))
    problems.push(
      `${series.name}: level "${level}" must be its output labels in by-clause order: ${[...series.labels].join('_')}`,
    );
  const sources = series.selected.flatMap((name) => [name, name.replace(/_total$/, '')]);
  if (!sources.includes(metric))
    problems.push(
      `${series.name}: metric "${metric}" names none of the series it reads (${series.selected.join(', ')})`,
    );
  const operation = /^(rate|irate|increase)(\d+[smhd])$/.exec(operations);
  if (operation === null)
    problems.push(`${series.name}: operations "${operations}" is not <function><window>`);
  else if (!series.expr.includes(`${operation[1]}(`) || !series.expr.includes(`[${operation[2]}]`))
    problems.push(`${series.name}: the expression does not apply ${operation[1]} over [${operation[2]}]`);
  return problems;
}

test('the convention check rejects badly named recording rules (this test can fail)', () => {
  const good = [...recorded.values()][0]!;
  assert.deepEqual(conventionProblems(good), []);
  assert.notDeepEqual(
    conventionProblems({ ...good, name: `route_instance:${good.name.split(':')[1]}:rate5m` }),
    [],
  );
  assert.notDeepEqual(
    conventionProblems({ ...good, name: `${good.name.split(':')[0]}:gateway_other:rate5m` }),
    [],
  );
  assert.notDeepEqual(
    conventionProblems({ ...good, name: `${good.name.split(':').slice(0, 2).join(':')}:rate1m` }),
    [],
  );
  assert.notDeepEqual(conventionProblems({ ...good, name: 'gateway_requests:rate5m' }), []);
});

test('every recording rule follows level:metric:operations', () => {
  assert.ok(recorded.size >= 16, `expected the recording rules, found ${recorded.size}`);
  assert.deepEqual([...recorded.values()].flatMap(conventionProblems), []);
});

test('every recording rule is read by a dashboard or an alert', () => {
  const readers = new Set(
    analyses
      .filter(({ query }) => !recorded.has(query.origin.split(' ').at(-1) ?? ''))
      .flatMap(({ analysis }) => analysis.series),
  );
  const unread = [...recorded.keys()].filter((name) => !readers.has(name));
  assert.deepEqual(unread, [], 'recording rules nothing reads: drop them or use them');
});

test('every recorded series the dashboards name is defined by a recording rule', () => {
  const missing = Object.values(recordedByDashboards).filter((name) => !recorded.has(name));
  assert.deepEqual(missing, []);
});

const recordingRules = join(repositoryRoot, 'observability/prometheus/rules/recording.yml');
const recordingTests = join(repositoryRoot, 'observability/prometheus/tests/recording.test.yml');

/** Runs `promtool test rules` on a copy of the recording rules and their tests. */
async function promtoolTest(rules: string): Promise<{ passed: boolean; output: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'odock-recording-'));
  try {
    await mkdir(join(directory, 'rules'));
    await mkdir(join(directory, 'tests'));
    await writeFile(join(directory, 'rules/recording.yml'), rules);
    await writeFile(join(directory, 'tests/recording.test.yml'), await readFile(recordingTests, 'utf8'));
    const result = await promisify(execFile)('promtool', ['test', 'rules', 'tests/recording.test.yml'], {
      cwd: directory,
    }).then(
      ({ stdout, stderr }) => ({ passed: true, output: stdout + stderr }),
      (error: { stdout?: string; stderr?: string }) => ({
        passed: false,
        output: `${error.stdout}${error.stderr}`,
      }),
    );
    return result;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

test('every recording rule has a promtool unit test; they pass, and fail on a wrong rule', async () => {
  const document = parseYaml(await readFile(recordingTests, 'utf8')) as {
    tests: Array<{ promql_expr_test?: Array<{ expr: string }> }>;
  };
  const tested = document.tests.flatMap((group) => (group.promql_expr_test ?? []).map((check) => check.expr));
  const untested = [...recorded.keys()].filter((name) => !tested.some((expr) => expr.includes(name)));
  assert.deepEqual(untested, [], 'recording rules without a promql_expr_test');
  const rules = await readFile(recordingRules, 'utf8');
  const real = await promtoolTest(rules);
  assert.ok(real.passed, real.output);
  // An increase() where a rate() belongs multiplies every value by 300: the tests must notice.
  const wrong = await promtoolTest(rules.replaceAll('(rate(', '(increase('));
  assert.ok(!wrong.passed, 'promtool passed recording rules that compute the wrong values');
});

// ---------------------------------------------------------------------------------------------
// Log fields, span names and span attributes

test('log queries filter and group only on stream labels and the catalog log fields', () => {
  assert.deepEqual(
    logqlLabelNames('sum by (level) (rate({service_name="a"} | json | request_id="x" [5m]))'),
    ['level', 'service_name', 'request_id'],
  );
  const allowed = new Set(queryableLogLabels);
  for (const field of logFields) assert.ok(allowed.has(field), `log field ${field} is not queryable`);
  const strays = dashboardQueryList
    .filter((query) => query.language === 'logql' && query.labelValues === undefined)
    .flatMap((query) =>
      logqlLabelNames(query.text)
        .filter((name) => !allowed.has(name))
        .map((name) => `${query.origin}: "${name}"`),
    );
  const variableLabels = dashboardQueryList
    .filter((query) => query.language === 'logql' && query.labelValues !== undefined)
    .filter((query) => !allowed.has(query.labelValues!.label))
    .map((query) => `${query.origin}: "${query.labelValues!.label}"`);
  assert.deepEqual([...strays, ...variableLabels], []);
});

test('trace queries use the catalog span names and attributes', () => {
  const sample = traceqlNames(
    '{ name = "http.request" && span.gateway.route = "x" && resource.service.name = "y" }',
  );
  assert.deepEqual(sample, {
    spanNames: ['http.request'],
    spanAttributes: ['gateway.route'],
    resourceAttributes: ['service.name'],
  });
  const names = new Set<string>(Object.values(spanNames));
  const attributes = new Set<string>(Object.values(spanAttributes));
  const resources = new Set<string>(resourceLogFields);
  const problems = dashboardQueryList
    .filter((query) => query.language === 'traceql')
    .flatMap((query) => {
      const found = traceqlNames(query.text);
      return [
        ...found.spanNames
          .filter((name) => name !== linkPlaceholder && !names.has(name))
          .map((name) => `span name "${name}"`),
        ...found.spanAttributes
          .filter((name) => !attributes.has(name))
          .map((name) => `span attribute "${name}"`),
        ...found.resourceAttributes
          .filter((name) => !resources.has(name))
          .map((name) => `resource attribute "${name}"`),
      ].map((problem) => `${query.origin}: ${problem}`);
    });
  assert.deepEqual(problems, []);
});
