/**
 * Every PromQL, LogQL and TraceQL expression the stack ships parses: the targets, variable
 * queries and Explore drill-down links of every committed dashboard, and every rule of every
 * file under `observability/prometheus/rules/` (recording rules and alerts alike). Grafana
 * variables are substituted first, as Grafana would (stack spec, section 8).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  committedDashboards,
  dashboardQueries,
  type Query,
  ruleFiles,
  ruleQueries,
  substitute,
  UnknownVariableError,
} from './query-inventory.ts';
import { syntaxErrors } from './query-syntax.ts';

function failures(queries: readonly Query[]): string[] {
  return queries.flatMap((query) => {
    // `label_values(service_name)` has no selector to parse; its label is checked by the coverage test.
    if (query.labelValues !== undefined && query.labelValues.selector === undefined) return [];
    return syntaxErrors(query.language, query.text).map(
      (error) => `${query.origin} (${query.language}): ${error}\n    ${query.text}`,
    );
  });
}

test('the grammars reject broken queries of each language (this test can fail)', () => {
  assert.notDeepEqual(syntaxErrors('promql', 'sum(rate(gateway_requests_total[5m])'), []);
  assert.notDeepEqual(syntaxErrors('promql', 'sum by (route (rate(x[5m]))'), []);
  assert.notDeepEqual(syntaxErrors('logql', '{service_name="odock-server" | json'), []);
  assert.notDeepEqual(syntaxErrors('logql', 'sum(rate({service_name="x"} | json))'), []);
  assert.notDeepEqual(syntaxErrors('traceql', '{ name = "http.request" '), []);
  assert.notDeepEqual(syntaxErrors('traceql', '{ duration > }'), []);
  assert.deepEqual(syntaxErrors('promql', 'sum by (route) (rate(gateway_requests_total[5m]))'), []);
  assert.deepEqual(
    syntaxErrors('logql', 'sum by (level) (rate({service_name="odock-server"} | json [5m]))'),
    [],
  );
  assert.deepEqual(
    syntaxErrors('traceql', '{ name = "http.request" && duration > 0.25s } | select(span.gateway.route)'),
    [],
  );
});

test('Grafana variables are substituted, and an undefined one is an error', () => {
  const variables = [
    { name: 'instance', type: 'query', current: { value: '$__all' }, allValue: '.*' },
    { name: 'slow', type: 'custom', current: { value: '2s' } },
  ];
  assert.equal(
    substitute('rate(x{instance=~"$instance"}[$__rate_interval])', variables),
    'rate(x{instance=~".*"}[1m])',
  );
  assert.equal(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${...} syntax is the input under test
    substitute('{ duration > ${slow} && name = "${__field.labels.x}" }', variables),
    '{ duration > 2s && name = "link-placeholder" }',
  );
  assert.throws(() => substitute('x{route=~"$route"}', variables), UnknownVariableError);
});

test('every dashboard query parses', () => {
  const dashboards = committedDashboards();
  assert.ok(dashboards.length >= 16, `expected the 16 shipped dashboards, found ${dashboards.length}`);
  const queries = dashboards.flatMap(dashboardQueries);
  for (const language of ['promql', 'logql', 'traceql'] as const)
    assert.ok(
      queries.some((query) => query.language === language),
      `no ${language} query found in the dashboards: the inventory is broken`,
    );
  assert.deepEqual(failures(queries), []);
});

test('every Explore drill-down link carries a query that parses', () => {
  const linkQueries = committedDashboards()
    .flatMap(dashboardQueries)
    .filter((query) => query.origin.includes(' link "'));
  assert.ok(linkQueries.length > 20, `expected the drill-down links' queries, found ${linkQueries.length}`);
  assert.ok(linkQueries.some((query) => query.language === 'traceql'));
  assert.ok(linkQueries.some((query) => query.language === 'logql'));
  assert.deepEqual(failures(linkQueries), []);
});

test('every rule expression in observability/prometheus/rules parses', () => {
  const files = ruleFiles();
  assert.ok(
    files.some((file) => file.path.endsWith('rules/recording.yml')),
    'recording.yml is missing from the rules directory',
  );
  const queries = ruleQueries();
  assert.ok(queries.length >= 16, `expected at least the 16 recording rules, found ${queries.length}`);
  assert.deepEqual(failures(queries), []);
});
