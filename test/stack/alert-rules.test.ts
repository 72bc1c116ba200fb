/**
 * The alert rules (spec/stack.md section 6): Debian's promtool checks the Prometheus config and
 * every rules file and runs every unit test file; the nineteen alerts carry the spec's family,
 * severity and first dashboard; every gateway metric and label they read is in the telemetry
 * catalog and every other metric in observability/third-party-metrics.yml; every alert has a firing
 * case and the silent cases; and, so that those cases can be trusted, rules weakened on purpose
 * (lower threshold, no duration, no volume floor) make the matching silent cases fail.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import {
  allowedLabels,
  metricCatalog,
  runtimeLabels,
  runtimeMetricCatalog,
} from '../../src/observability/catalog.ts';
import { readPromql } from './promql-selectors.ts';
import { listFiles, readText, readYaml, repositoryPath, run } from './stack-files.ts';
import { alertSpecs, dashboardUids } from './stack-spec.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
}
interface TestGroup {
  name?: string;
  alert_rule_test?: AlertTest[];
}
interface TestFile {
  rule_files: string[];
  tests: TestGroup[];
}

const rulesDirectory = 'observability/prometheus/rules';
const testsDirectory = 'observability/prometheus/tests';
const alertsText = readText(rulesDirectory, 'alerts.yml');
const alerts = readYaml<RuleFile>(rulesDirectory, 'alerts.yml').groups.flatMap((group) => group.rules);
const alertNamed = (name: string) => alerts.find((rule) => rule.alert === name)!;
const testFiles = listFiles(testsDirectory, '.test.yml');
const testGroups = testFiles.flatMap(
  (file) => parse(readFileSync(repositoryPath(file), 'utf8')).tests as TestGroup[],
);

/** promtool builds a TSDB per test group in TMPDIR: memory-backed when the machine has one. */
const promtoolEnvironment = existsSync('/dev/shm') ? { ...process.env, TMPDIR: '/dev/shm' } : process.env;

/** The volume floor constant of a rule, if it has one (the line marked `# volume floor`). */
function volumeFloor(rule: Rule): string | undefined {
  return /> ([0-9.]+) # volume floor/.exec(rule.expr)?.[1];
}

describe('promtool (Debian prometheus 2.42)', () => {
  test('check config: prometheus.yml and the rule files it names', async () => {
    const result = await run('promtool', ['check', 'config', 'observability/prometheus/prometheus.yml']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /alerts\.yml\s+SUCCESS: 19 rules found/);
  });

  test('check rules: every rules file', async () => {
    const files = listFiles(rulesDirectory, '.yml');
    assert.ok(files.includes(`${rulesDirectory}/alerts.yml`));
    const result = await run('promtool', ['check', 'rules', ...files]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('test rules: every unit test file passes', async () => {
    assert.ok(testFiles.length >= 8, `only ${testFiles.length} test files`);
    const result = await run('promtool', ['test', 'rules', ...testFiles], {
      timeoutMs: 120_000,
      env: promtoolEnvironment,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });
});

describe('the nineteen alerts', () => {
  test('alerts.yml holds exactly the alerts of the spec', () => {
    assert.deepEqual(alerts.map((rule) => rule.alert).sort(), Object.keys(alertSpecs).sort());
    assert.ok(
      alerts.every((rule) => rule.record === undefined),
      'recording rules belong in recording.yml',
    );
  });

  for (const [name, spec] of Object.entries(alertSpecs)) {
    test(`${name}: ${spec.family}, ${spec.severity}, summary, description, /d/${spec.dashboard}`, () => {
      const rule = alertNamed(name);
      assert.deepEqual(rule.labels, { severity: spec.severity, family: spec.family });
      assert.deepEqual(Object.keys(rule.annotations ?? {}).sort(), ['dashboard', 'description', 'summary']);
      assert.equal(rule.annotations!.dashboard, `/d/${spec.dashboard}`);
      assert.match(
        rule.annotations!.description!,
        /\{\{ \$labels\.[a-z_]+ \}\}|\$labels\.[a-z_]+/,
        'names a label',
      );
      assert.deepEqual(readPromql(rule.expr).syntaxErrors, []);
    });
  }

  test('every dashboard link resolves to a shipped dashboard', () => {
    const shipped = new Map<string, string>();
    for (const file of listFiles('observability/grafana/dashboards', '.json'))
      shipped.set(JSON.parse(readFileSync(repositoryPath(file), 'utf8')).uid, file);
    for (const rule of alerts) {
      const uid = /^\/d\/([a-z0-9-]+)$/.exec(rule.annotations?.dashboard ?? '')?.[1];
      assert.ok(uid, `${rule.alert}: dashboard link ${rule.annotations?.dashboard} is not /d/<uid>`);
      assert.ok(
        (dashboardUids as readonly string[]).includes(uid),
        `${rule.alert}: ${uid} is not a stack dashboard`,
      );
      assert.ok(
        shipped.has(uid),
        `${rule.alert}: no JSON under observability/grafana/dashboards has uid ${uid}`,
      );
    }
  });

  test('the volume floor is one documented constant, on the three ratio alerts', () => {
    const floors: Record<string, string> = {};
    for (const rule of alerts) {
      const floor = volumeFloor(rule);
      if (floor !== undefined) floors[rule.alert!] = floor;
    }
    assert.deepEqual(Object.keys(floors).sort(), [
      'gateway_request_5xx_spike',
      'provider_error_spike',
      'stream_failure_spike',
    ]);
    const values = new Set(Object.values(floors));
    assert.equal(values.size, 1, `different floors: ${JSON.stringify(floors)}`);
    const [floor] = values;
    assert.match(
      alertsText,
      new RegExp(`at least ${floor!.replace('.', '\\.')} events per second`),
      'rule comments',
    );
    const readme = readText('observability', 'README.md');
    assert.ok(
      readme.split('\n').some((line) => /volume floor/i.test(line) && line.includes(floor!)),
      `observability/README.md does not state the volume floor ${floor}`,
    );
  });
});

describe('metrics and labels the alerts read', () => {
  const catalog = new Map<string, { type: string; labels: readonly string[] }>();
  for (const metric of Object.values(metricCatalog)) catalog.set(metric.name, metric);
  for (const [key, metric] of Object.entries(runtimeMetricCatalog))
    catalog.set(metric.name, { ...metric, labels: runtimeLabels[key as keyof typeof runtimeLabels] ?? [] });
  const documented = new Set(
    Object.values(
      readYaml<{ sources: Record<string, { metrics: string[] }> }>('observability', 'third-party-metrics.yml')
        .sources,
    ).flatMap((source) => source.metrics),
  );
  /** Labels Prometheus adds to every scraped series. */
  const targetLabels = ['job', 'instance'];

  const catalogEntry = (metric: string) => {
    const direct = catalog.get(metric);
    if (direct) return { entry: direct, bucket: false };
    const base = metric.replace(/_(bucket|sum|count)$/, '');
    const histogram = catalog.get(base);
    if (histogram?.type === 'histogram') return { entry: histogram, bucket: metric.endsWith('_bucket') };
    return undefined;
  };
  const allowedFor = (metric: string) => {
    const found = catalogEntry(metric);
    return found ? [...found.entry.labels, ...targetLabels, ...(found.bucket ? ['le'] : [])] : undefined;
  };
  const isGatewayMetric = (metric: string) =>
    metric.startsWith('gateway_') || catalogEntry(metric) !== undefined;

  for (const rule of alerts) {
    test(`${rule.alert}: metrics exist and carry the labels used`, () => {
      const reading = readPromql(rule.expr);
      assert.ok(reading.selectors.length > 0);
      for (const selector of reading.selectors) {
        if (isGatewayMetric(selector.metric)) {
          const allowed = allowedFor(selector.metric);
          assert.ok(allowed, `${selector.metric} is not in src/observability/catalog.ts`);
          for (const label of selector.matchers)
            assert.ok(allowed.includes(label), `${selector.metric} has no label ${label}`);
        } else {
          assert.ok(
            documented.has(selector.metric),
            `${selector.metric} is not in observability/third-party-metrics.yml`,
          );
        }
      }
      for (const use of reading.labelUses)
        for (const selector of use.selectors.filter((s) => isGatewayMetric(s.metric)))
          for (const label of use.labels)
            assert.ok(
              allowedFor(selector.metric)!.includes(label),
              `${use.clause} (${label}): ${selector.metric} has no such label`,
            );
      for (const label of reading.labelUses.flatMap((use) => use.labels))
        assert.ok(
          (allowedLabels as readonly string[]).includes(label) ||
            targetLabels.includes(label) ||
            !isGatewayRule(reading),
          `${label} is outside the label policy`,
        );
    });
  }

  function isGatewayRule(reading: ReturnType<typeof readPromql>): boolean {
    return reading.selectors.every((selector) => isGatewayMetric(selector.metric));
  }
});

describe('unit test cases of every alert', () => {
  const cases = (alert: string, kind: string) =>
    testGroups.filter((group) => group.name?.startsWith(`${alert}: ${kind}`));

  test('every test group is named "<alert>: <case>" and tests only that alert', () => {
    for (const group of testGroups.filter((g) => g.alert_rule_test !== undefined)) {
      const alert = group.name?.split(':')[0] ?? '';
      assert.ok(alert in alertSpecs, `test group "${group.name}" names no alert`);
      for (const check of group.alert_rule_test!) assert.equal(check.alertname, alert, group.name);
    }
  });

  for (const [alert, spec] of Object.entries(alertSpecs)) {
    test(`${alert}: fires, and stays silent below threshold, for a shorter duration${volumeFloor(alertNamed(alert)) ? ', below the volume floor' : ''}`, () => {
      const firing = cases(alert, 'fires');
      assert.ok(firing.length > 0, 'no "fires" case');
      for (const group of firing) {
        const fired = group.alert_rule_test!.filter((check) => check.exp_alerts.length > 0);
        assert.ok(fired.length > 0, `"${group.name}" expects no alert`);
        for (const check of fired)
          for (const expected of check.exp_alerts) {
            assert.equal(expected.exp_labels?.severity, spec.severity, group.name);
            assert.equal(expected.exp_labels?.family, spec.family, group.name);
            assert.ok(
              expected.exp_annotations?.description,
              `"${group.name}" does not check the rendered description`,
            );
          }
      }
      const silentKinds = ['silent below threshold', 'silent for a shorter duration'];
      if (volumeFloor(alertNamed(alert))) silentKinds.push('silent below volume floor');
      for (const kind of silentKinds) {
        const groups = cases(alert, kind);
        assert.ok(groups.length > 0, `no "${kind}" case`);
        for (const group of groups)
          assert.ok(
            group.alert_rule_test!.every((check) => check.exp_alerts.length === 0),
            `"${group.name}" expects an alert`,
          );
      }
    });
  }
});

/**
 * Each mutation weakens the rules the way a wrong edit would; the unit tests must then fail, and
 * precisely in the cases meant to catch it. A silent case that still passed would prove nothing.
 */
describe('the unit tests catch weakened rules', () => {
  const workspace = mkdtemp(join(tmpdir(), 'odock-alert-mutations-'));
  after(async () => rm(await workspace, { recursive: true, force: true }));

  /** Runs the unit tests that have a case of `kind` against mutated rules; the names of the failing groups. */
  async function failingGroups(kind: string, mutate: (rule: Rule) => void): Promise<Set<string>> {
    const directory = await mkdtemp(join(await workspace, 'run-'));
    await mkdir(join(directory, 'rules'));
    await mkdir(join(directory, 'tests'));
    const document = readYaml<RuleFile>(rulesDirectory, 'alerts.yml');
    for (const group of document.groups) for (const rule of group.rules) mutate(rule);
    await writeFile(join(directory, 'rules', 'alerts.yml'), stringify(document));
    const copies: string[] = [];
    for (const file of testFiles) {
      const content = parse(readFileSync(repositoryPath(file), 'utf8')) as TestFile;
      if (!content.rule_files.includes('../rules/alerts.yml')) continue;
      // Only the cases the mutation is meant to break: the rest would only cost time.
      content.tests = content.tests.filter((group) => group.name?.includes(`: ${kind}`));
      if (content.tests.length === 0) continue;
      content.rule_files = ['../rules/alerts.yml'];
      const copy = join(directory, 'tests', basename(file));
      await writeFile(copy, stringify(content));
      copies.push(copy);
    }
    const result = await run('promtool', ['test', 'rules', ...copies], {
      timeoutMs: 120_000,
      env: promtoolEnvironment,
    });
    assert.notEqual(result.code, 0, 'promtool passed the weakened rules');
    const report = result.stdout + result.stderr;
    return new Set([...report.matchAll(/^\s*name: (.+),$/gm)].map((match) => match[1]!));
  }

  const expectCaught = (failing: Set<string>, kind: string, alertsConcerned: string[]) => {
    for (const alert of alertsConcerned) {
      const groups = testGroups.filter((group) => group.name?.startsWith(`${alert}: ${kind}`));
      assert.ok(groups.length > 0, `${alert} has no "${kind}" case`);
      for (const group of groups) assert.ok(failing.has(group.name!), `"${group.name}" still passes`);
    }
  };

  // The three promtool runs are independent: start them together.
  const withoutFloor = failingGroups('silent below volume floor', (rule) => {
    rule.expr = rule.expr.replace(/> [0-9.]+ # volume floor/, '> 0 # volume floor');
  });
  // Alerts without `for` hold their duration in a range: widen or shorten it instead.
  const windowMutations: Record<string, [RegExp, string]> = {
    container_restart_loop: [/\[15m\]/, '[45m]'],
    service_metrics_missing: [/\[10m\]/, '[5m]'],
  };
  const withoutDuration = failingGroups('silent for a shorter duration', (rule) => {
    if (rule.for !== undefined) rule.for = '0s';
    const window = windowMutations[rule.alert ?? ''];
    if (window) rule.expr = rule.expr.replace(window[0], window[1]);
  });
  const withLowerThresholds = lowerThresholds();
  // Each test awaits its run (and fails with its error); this only keeps an early rejection from
  // being reported as unhandled before that test starts.
  for (const pending of [withoutFloor, withoutDuration, withLowerThresholds]) pending.catch(() => {});

  test('without the volume floor, every "below volume floor" case fails', async () => {
    const concerned = alerts.filter((rule) => volumeFloor(rule)).map((rule) => rule.alert!);
    expectCaught(await withoutFloor, 'silent below volume floor', concerned);
  });

  test('without their duration, every "shorter duration" case fails', async () => {
    expectCaught(await withoutDuration, 'silent for a shorter duration', Object.keys(alertSpecs));
  });

  test('with a lower threshold, every "below threshold" case fails', async () => {
    expectCaught(await withLowerThresholds, 'silent below threshold', Object.keys(alertSpecs));
  });

  function lowerThresholds(): Promise<Set<string>> {
    const thresholdMutations: Record<string, [RegExp | string, string][]> = {
      high_cpu_usage: [['> 85', '> 75']],
      high_memory_usage: [['> 90', '> 80']],
      container_restart_loop: [['> 3', '> 2']],
      service_down: [['up == 0', 'up == 1']],
      otlp_export_failures_sustained: [[/\) > 0, "signal"/g, ') >= 0, "signal"']],
      gateway_request_5xx_spike: [[') > 0.05', ') > 0.01']],
      provider_error_spike: [[') > 0.10', ') > 0.03']],
      stream_failure_spike: [[') > 0.10', ') > 0.03']],
      gateway_logs_dropped: [['> 0', '>= 0']],
      gateway_logs_write_errors: [['> 0', '>= 0']],
      usage_collector_flush_failures: [['> 0', '>= 0']],
      usage_collector_enqueue_failures: [['> 0', '>= 0']],
      postgres_readiness_degraded: [
        ['pg_up{job="postgres-exporter"} == 0', 'pg_up{job="postgres-exporter"} == 1'],
      ],
      redis_readiness_degraded: [
        ['redis_up{job="redis-exporter"} == 0', 'redis_up{job="redis-exporter"} == 1'],
      ],
      service_metrics_missing: [['unless', 'and']],
      gateway_token_throughput_spike: [
        ['3 * sum', '1.5 * sum'],
        ['> 500', '> 300'],
      ],
      gateway_organization_token_concentration: [
        [') > 0.6', ') > 0.4'],
        ['> 0) > 1', '> 0) > 0'],
      ],
      gateway_api_key_token_concentration: [[') > 0.8', ') > 0.5']],
      gateway_token_request_size_extreme: [['> 50000', '> 30000']],
    };
    assert.deepEqual(Object.keys(thresholdMutations).sort(), Object.keys(alertSpecs).sort());
    return failingGroups('silent below threshold', (rule) => {
      for (const [from, to] of thresholdMutations[rule.alert ?? ''] ?? []) {
        const mutated = rule.expr.replace(from, to);
        assert.notEqual(mutated, rule.expr, `${rule.alert}: ${from} not found`);
        rule.expr = mutated;
      }
    });
  }
});
