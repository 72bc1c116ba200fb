/**
 * Grafana provisioning (issue point 6): datasources with fixed uids and the links between them,
 * the dashboard provider and its folders, and the escaping Grafana needs in provisioning files.
 * The queries inside the datasource links are parsed with the PromQL, LogQL and TraceQL grammars
 * (after substituting Grafana's variables), and their metrics and fields checked against the
 * catalog and the log pipeline, since a typo there only shows up as an empty panel in Grafana.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { metricCatalog, spanAttributes } from '../../src/observability/catalog.ts';
import { parseAlloy } from './alloy-syntax.ts';
import { readPromql } from './promql-selectors.ts';
import { type ComposeFile, listFiles, readText, readYaml, repositoryPath } from './stack-files.ts';
import { dashboardFolders, dashboardUids, datasourceUids } from './stack-spec.ts';

/* biome-ignore lint/suspicious/noExplicitAny: provisioning files are untyped YAML trees */
type Yaml = any;

const provisioningFiles = listFiles('observability/grafana/provisioning', '.yml');
const datasources: Yaml[] = readYaml<Yaml>(
  'observability',
  'grafana',
  'provisioning',
  'datasources',
  'datasources.yml',
).datasources;
const byUid = (uid: string) => datasources.find((source) => source.uid === uid);
const compose = readYaml<ComposeFile>('docker-compose.yml');

/** Grafana turns `$$` into `$` when it reads a provisioning file; the value Grafana then uses. */
const unescaped = (value: string) => value.replaceAll('$$', '$');
/** `${name}`, a Grafana variable as it appears after unescaping. */
const variable = (name: string) => `\${${name}}`;

function syntaxErrors(tree: {
  iterate(spec: { enter(node: { type: { isError: boolean }; from: number }): void }): void;
}) {
  const errors: number[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return errors;
}

describe('environment interpolation in provisioning files', () => {
  test("Grafana's own variables are escaped ($$), and every env reference is set for the container", () => {
    const environment = compose.services.grafana!.environment ?? {};
    for (const file of provisioningFiles) {
      const text = readFileSync(repositoryPath(file), 'utf8');
      for (const line of text.split('\n').filter((entry) => !entry.trimStart().startsWith('#'))) {
        for (const match of line.replaceAll('$$', '').matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g))
          assert.ok(
            match[1]! in environment,
            `${file}: $${match[1]} is expanded from the environment, unset: ${line}`,
          );
      }
    }
  });
});

describe('datasources', () => {
  test('exactly Prometheus, Loki, Tempo and Alertmanager, with fixed uids, not editable in the UI', () => {
    assert.deepEqual(datasources.map((source) => source.uid).sort(), [...datasourceUids].sort());
    for (const source of datasources) assert.equal(source.editable, false, source.uid);
    assert.equal(
      datasources
        .filter((source) => source.isDefault)
        .map((source) => source.uid)
        .join(),
      'prometheus',
    );
  });

  test('every datasource a link points to is provisioned', () => {
    const references: string[] = [];
    const visit = (value: unknown, key = '') => {
      if (key === 'datasourceUid' && typeof value === 'string') references.push(value);
      else if (Array.isArray(value)) for (const item of value) visit(item);
      else if (value !== null && typeof value === 'object')
        for (const [name, inner] of Object.entries(value)) visit(inner, name);
    };
    visit(datasources);
    assert.ok(references.length >= 8);
    for (const uid of references) assert.ok(byUid(uid), `link to unprovisioned datasource ${uid}`);
  });

  test('metrics -> traces: exemplar trace ids open Tempo', () => {
    const destinations = byUid('prometheus').jsonData.exemplarTraceIdDestinations;
    assert.deepEqual(
      destinations.map((destination: Yaml) => [destination.name, destination.datasourceUid]),
      [
        ['trace_id', 'tempo'],
        ['traceID', 'tempo'],
      ],
    );
  });

  describe('logs <-> traces', () => {
    const alloy = parseAlloy(readText('observability', 'alloy', 'config.alloy'));
    const match = alloy.find((block) => block.name === 'loki.process')!.blocks[0]!;
    const stage = (name: string) =>
      Object.keys(match.blocks.find((block) => block.name === name)!.attributes.values as object);
    const structuredMetadata = stage('stage.structured_metadata');
    const labels = stage('stage.labels');

    test('Loki derived fields read trace_id and request_id, which Alloy ships as structured metadata', () => {
      const fields = byUid('loki').jsonData.derivedFields as Yaml[];
      assert.deepEqual(
        fields.map((field) => [field.matcherType, field.matcherRegex, field.datasourceUid]),
        [
          ['label', 'trace_id', 'tempo'],
          ['label', 'request_id', 'tempo'],
        ],
      );
      for (const field of fields)
        assert.ok(structuredMetadata.includes(field.matcherRegex), field.matcherRegex);
      assert.equal(unescaped(fields[0].url), variable('__value.raw'));
    });

    test('the request_id link is a TraceQL search on the span attribute the gateway sets', () => {
      const fields = byUid('loki').jsonData.derivedFields as Yaml[];
      const query = unescaped(fields[1].url).replace(variable('__value.raw'), '0123-request');
      assert.deepEqual(syntaxErrors(traceqlParser.parse(query)), [], query);
      assert.match(query, new RegExp(`span\\.${spanAttributes.requestId.replace('.', '\\.')} = `));
    });

    test('Tempo -> Loki: every span links to the log lines of its trace', () => {
      const traces = byUid('tempo').jsonData.tracesToLogsV2;
      assert.equal(traces.datasourceUid, 'loki');
      assert.deepEqual(traces.tags, [{ key: 'service.name', value: 'service_name' }]);
      assert.ok(labels.includes('service_name'), 'service_name is a Loki label');
      const query = unescaped(traces.query)
        .replace(`{${variable('__tags')}}`, '{service_name="odock-server"}')
        .replace(variable('__trace.traceId'), '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.doesNotMatch(query, /\$\{/, `unsubstituted variable in ${query}`);
      assert.deepEqual(syntaxErrors(logqlParser.parse(query)), [], query);
      const filtered = [...query.matchAll(/\|\s*([a-z_]+)\s*=/g)].map((entry) => entry[1]!);
      for (const field of filtered) assert.ok(structuredMetadata.includes(field), `${field} is not shipped`);
    });
  });

  test('Tempo -> metrics: the linked queries parse and read catalog metrics with their labels', () => {
    const tracesToMetrics = byUid('tempo').jsonData.tracesToMetrics;
    assert.equal(tracesToMetrics.datasourceUid, 'prometheus');
    const mapped = (tracesToMetrics.tags as Yaml[]).map((tag) => tag.value as string);
    const catalogLabels = new Map<string, readonly string[]>(
      Object.values(metricCatalog).map((metric) => [metric.name, metric.labels]),
    );
    const documented = new Set(
      Object.values(readYaml<Yaml>('observability', 'third-party-metrics.yml').sources).flatMap(
        (source: Yaml) => source.metrics as string[],
      ),
    );
    for (const { name, query } of tracesToMetrics.queries as { name: string; query: string }[]) {
      const substituted = unescaped(query)
        .replace('$__tags', mapped.map((label) => `${label}="x"`).join(', '))
        .replace(variable('__span.name'), 'gateway.provider.request');
      assert.doesNotMatch(substituted, /\$/, `${name}: unsubstituted variable`);
      const reading = readPromql(substituted);
      assert.deepEqual(reading.syntaxErrors, [], `${name}: ${substituted}`);
      for (const selector of reading.selectors) {
        const base = selector.metric.replace(/_bucket$/, '');
        const labels = catalogLabels.get(base) ?? catalogLabels.get(selector.metric);
        if (labels === undefined) {
          assert.ok(
            documented.has(selector.metric),
            `${name}: ${selector.metric} is neither catalog nor documented`,
          );
          continue;
        }
        const allowed = [
          ...labels,
          'job',
          'instance',
          ...(selector.metric.endsWith('_bucket') ? ['le'] : []),
        ];
        for (const label of [...selector.matchers, ...reading.labelUses.flatMap((use) => use.labels)])
          assert.ok(allowed.includes(label), `${name}: ${selector.metric} has no label ${label}`);
      }
    }
    for (const label of mapped) assert.ok(label in { provider: 1, model: 1 }, label);
  });

  test('Tempo service map from Prometheus, log search in Loki', () => {
    const tempo = byUid('tempo').jsonData;
    assert.equal(tempo.serviceMap.datasourceUid, 'prometheus');
    assert.equal(tempo.lokiSearch.datasourceUid, 'loki');
    assert.equal(tempo.nodeGraph.enabled, true);
  });
});

describe('dashboards', () => {
  const root = 'observability/grafana/dashboards';
  const provider = readYaml<Yaml>(
    'observability',
    'grafana',
    'provisioning',
    'dashboards',
    'dashboards.yml',
  ).providers;

  test('one file provider taking folders from the directory structure, read-only', () => {
    assert.equal(provider.length, 1);
    assert.equal(provider[0].options.foldersFromFilesStructure, true);
    assert.equal(provider[0].allowUiUpdates, false);
    const mount = (compose.services.grafana!.volumes ?? []).find((volume) => volume.startsWith(`./${root}:`));
    assert.equal(mount, `./${root}:${provider[0].options.path}:ro`);
  });

  test('the directories are the seven folders of the spec, each with dashboards', () => {
    const directories = readdirSync(repositoryPath(root), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    assert.deepEqual(directories, [...dashboardFolders].sort());
    for (const folder of dashboardFolders)
      assert.ok(listFiles(`${root}/${folder}`, '.json').length > 0, folder);
  });

  const dashboards = listFiles(root, '.json').map((file) => ({
    file,
    json: JSON.parse(readFileSync(repositoryPath(file), 'utf8')) as Yaml,
  }));

  test('dashboard uids are unique and are the stack dashboards', () => {
    const uids = dashboards.map((dashboard) => dashboard.json.uid as string);
    assert.equal(new Set(uids).size, uids.length, 'duplicate uid');
    assert.deepEqual([...uids].sort(), [...dashboardUids].sort());
  });

  test('every datasource uid a dashboard references is provisioned', () => {
    const builtIn = new Set(['-- Grafana --', '-- Mixed --', '-- Dashboard --', 'grafana']);
    for (const { file, json } of dashboards) {
      const variables = new Set<string>(
        (json.templating?.list ?? []).filter((v: Yaml) => v.type === 'datasource').map((v: Yaml) => v.name),
      );
      const visit = (value: unknown, key = '') => {
        if (key === 'datasource' && value !== null && typeof value === 'object' && 'uid' in value) {
          const uid = String((value as { uid: unknown }).uid);
          const variable = /^\$\{?([A-Za-z_]\w*)/.exec(uid)?.[1];
          if (variable !== undefined)
            assert.ok(variables.has(variable), `${file}: unknown datasource variable ${uid}`);
          else assert.ok(builtIn.has(uid) || byUid(uid), `${file}: datasource ${uid} is not provisioned`);
        } else if (Array.isArray(value)) for (const item of value) visit(item);
        else if (value !== null && typeof value === 'object')
          for (const [name, inner] of Object.entries(value)) visit(inner, name);
      };
      visit(json);
    }
  });
});
