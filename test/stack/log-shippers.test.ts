/**
 * Log shipping (issue point 2): Grafana Alloy (observability/alloy/config.alloy) and the Promtail
 * configuration kept for deployments pinned to it (observability/promtail/promtail.yml). No Alloy
 * or Promtail binary runs here, so both are read structurally: Alloy's syntax is parsed and its
 * component references resolved, the two files must describe the same pipeline, labels must be
 * bounded fields of the telemetry contract, correlation ids must be structured metadata, and the
 * pipeline must extract every field it promotes from a line the gateway's own logger writes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { streamLabels } from '../../observability/grafana/dashboards-src/lib/log-streams.ts';
import { allowedLabels, logFields } from '../../src/observability/catalog.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { type AlloyBlock, type AlloyValue, allBlocks, parseAlloy } from './alloy-syntax.ts';
import { type ComposeFile, readText, readYaml } from './stack-files.ts';

interface ShipperModel {
  dockerHost: string;
  relabel: { source: string[]; regex: string | undefined; target: string }[];
  selector: string;
  json: Record<string, string>;
  labels: string[];
  structuredMetadata: string[];
  timestamp: { source: string; format: string };
  push: string;
}

const alloyBlocks = parseAlloy(readText('observability', 'alloy', 'config.alloy'));
const component = (name: string) => alloyBlocks.find((block) => block.name === name);
const child = (block: AlloyBlock | undefined, name: string) =>
  block?.blocks.find((inner) => inner.name === name);
const stringMap = (value: AlloyValue | undefined) => value as Record<string, string>;

function alloyModel(): ShipperModel {
  const discovery = component('discovery.docker');
  const relabel = component('discovery.relabel');
  const source = component('loki.source.docker');
  const match = child(component('loki.process'), 'stage.match');
  assert.ok(
    discovery && relabel && source && match,
    'discovery.docker, discovery.relabel, loki.source.docker, stage.match',
  );
  assert.equal(
    source.attributes.host,
    discovery.attributes.host,
    'discovery and source read the same Docker socket',
  );
  return {
    dockerHost: discovery.attributes.host as string,
    relabel: relabel.blocks
      .filter((block) => block.name === 'rule')
      .map((rule) => ({
        source: rule.attributes.source_labels as string[],
        regex: rule.attributes.regex as string | undefined,
        target: rule.attributes.target_label as string,
      })),
    selector: match.attributes.selector as string,
    json: stringMap(child(match, 'stage.json')?.attributes.expressions),
    labels: Object.keys(stringMap(child(match, 'stage.labels')?.attributes.values)).sort(),
    structuredMetadata: Object.keys(
      stringMap(child(match, 'stage.structured_metadata')?.attributes.values),
    ).sort(),
    timestamp: {
      source: child(match, 'stage.timestamp')?.attributes.source as string,
      format: child(match, 'stage.timestamp')?.attributes.format as string,
    },
    push: child(component('loki.write'), 'endpoint')?.attributes.url as string,
  };
}

interface PromtailConfig {
  clients: { url: string }[];
  scrape_configs: {
    docker_sd_configs: { host: string }[];
    relabel_configs: { source_labels: string[]; regex?: string; target_label: string }[];
    pipeline_stages: { match: { selector: string; stages: Record<string, Record<string, unknown>>[] } }[];
  }[];
}

function promtailModel(): ShipperModel {
  const config = readYaml<PromtailConfig>('observability', 'promtail', 'promtail.yml');
  assert.equal(config.clients.length, 1);
  assert.equal(config.scrape_configs.length, 1);
  const scrape = config.scrape_configs[0]!;
  const match = scrape.pipeline_stages[0]!.match;
  const stage = (name: string) => match.stages.find((entry) => name in entry)?.[name] ?? {};
  return {
    dockerHost: scrape.docker_sd_configs[0]!.host,
    relabel: scrape.relabel_configs.map((rule) => ({
      source: rule.source_labels,
      regex: rule.regex,
      target: rule.target_label,
    })),
    selector: match.selector,
    json: stage('json').expressions as Record<string, string>,
    labels: Object.keys(stage('labels')).sort(),
    structuredMetadata: Object.keys(stage('structured_metadata')).sort(),
    timestamp: stage('timestamp') as { source: string; format: string },
    push: config.clients[0]!.url,
  };
}

const alloy = alloyModel();

describe('Alloy configuration', () => {
  test('parses as Alloy syntax (// comments only, balanced blocks, valid strings)', () => {
    assert.ok(alloyBlocks.length >= 5);
  });

  test('follows discovery.docker -> discovery.relabel -> loki.source.docker -> loki.process -> loki.write', () => {
    assert.deepEqual(
      alloyBlocks.map((block) => block.name),
      ['discovery.docker', 'discovery.relabel', 'loki.source.docker', 'loki.process', 'loki.write'],
    );
  });

  test('every component reference points at a component that exports it', () => {
    const exports: Record<string, string[]> = {
      'discovery.docker': ['targets'],
      'discovery.relabel': ['output', 'rules'],
      'loki.process': ['receiver'],
      'loki.write': ['receiver'],
    };
    const references: string[] = [];
    const collect = (value: AlloyValue) => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (value !== null && typeof value === 'object') {
        if ('reference' in value && typeof value.reference === 'string') references.push(value.reference);
        else for (const inner of Object.values(value)) collect(inner as AlloyValue);
      }
    };
    for (const block of allBlocks(alloyBlocks)) Object.values(block.attributes).forEach(collect);
    assert.ok(references.length >= 4);
    for (const reference of references) {
      const parts = reference.split('.');
      const exported = parts.pop()!;
      const label = parts.pop()!;
      const name = parts.join('.');
      const target = alloyBlocks.find((block) => block.name === name && block.label === label);
      assert.ok(target, `${reference}: no ${name} "${label}"`);
      assert.ok(exports[name]?.includes(exported), `${reference}: ${name} exports no ${exported}`);
    }
  });
});

describe('Promtail configuration', () => {
  test('describes the same pipeline as Alloy', () => {
    assert.deepEqual(promtailModel(), alloy);
  });
});

describe('the log pipeline', () => {
  const compose = readYaml<ComposeFile>('docker-compose.yml');

  test('labels are bounded fields only; correlation ids are structured metadata', () => {
    const contractLabels = logFields.filter((field) => (allowedLabels as readonly string[]).includes(field));
    const allowedAsLabel = new Set([...contractLabels, 'level', 'service_name']);
    const highCardinality = ['request_id', 'trace_id', 'span_id', 'organization_id'];
    for (const label of alloy.labels) {
      assert.ok(allowedAsLabel.has(label), `${label} is not a bounded field`);
      assert.ok(!highCardinality.includes(label), `${label} would create a stream per value`);
    }
    for (const field of ['request_id', 'trace_id', 'span_id'])
      assert.ok(alloy.structuredMetadata.includes(field), field);
    for (const field of alloy.structuredMetadata)
      assert.ok(!alloy.labels.includes(field), `${field} is both`);
    // Discovery labels come from Docker and Compose, bounded by the deployment.
    assert.deepEqual(alloy.relabel.map((rule) => rule.target).sort(), [
      'compose_project',
      'container',
      'service',
    ]);
    for (const rule of alloy.relabel)
      for (const source of rule.source) assert.match(source, /^__meta_docker_container_/);
  });

  test('the stream labels the dashboards query are the ones shipped', () => {
    const shipped = [...alloy.relabel.map((rule) => rule.target), ...alloy.labels].sort();
    assert.deepEqual([...streamLabels].sort(), shipped);
  });

  test('every promoted field is extracted by the JSON stage', () => {
    for (const field of [...alloy.labels, ...alloy.structuredMetadata, alloy.timestamp.source])
      assert.ok(field in alloy.json, `${field} is promoted but never extracted`);
  });

  test('the JSON stage reads what the gateway logger writes, and the timestamp parses', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      resource: { 'service.name': 'odock-server', 'service.instance.id': 'server-1' },
      destination: { write: (line: string) => void lines.push(line) },
    });
    logger.info(
      {
        request_id: 'req-1',
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
        span_id: '00f067aa0ba902b7',
        organization_id: 'demo',
        route: '/v1/chat/completions',
        endpoint: 'chat_completions',
        provider: 'demo-openai',
        model: 'demo-echo',
      },
      'request finished',
    );
    logger.flush?.();
    const record = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    for (const [name, path] of Object.entries(alloy.json)) {
      const key = path.startsWith('"') ? JSON.parse(path) : path;
      assert.ok(
        record[key] !== undefined && record[key] !== '',
        `${name} <- ${path}: absent from ${JSON.stringify(record)}`,
      );
    }
    assert.equal(alloy.timestamp.format, 'RFC3339Nano');
    assert.match(
      String(record[alloy.timestamp.source]),
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/,
    );
  });

  test('the match selector is valid LogQL and names the gateway Compose service', () => {
    const tree = logqlParser.parse(alloy.selector);
    let error = false;
    tree.iterate({
      enter: (node) => {
        if (node.type.isError) error = true;
      },
    });
    assert.equal(error, false, alloy.selector);
    const service = /\{service="([^"]+)"\}/.exec(alloy.selector)?.[1];
    assert.ok(
      service && compose.services[service]?.build,
      `${alloy.selector} does not select the gateway service`,
    );
  });

  test('both shippers push to Loki and read the Docker socket mounted read-only', () => {
    assert.equal(alloy.push, 'http://loki:3100/loki/api/v1/push');
    assert.equal(alloy.dockerHost, 'unix:///var/run/docker.sock');
    for (const name of ['alloy', 'promtail']) {
      const volumes = compose.services[name]!.volumes ?? [];
      assert.ok(volumes.includes('/var/run/docker.sock:/var/run/docker.sock:ro'), `${name} socket mount`);
    }
  });
});
