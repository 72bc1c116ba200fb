/**
 * The committed dashboards (`observability/grafana/dashboards/<folder>/<uid>.json`) are exactly
 * what the code under `observability/grafana/dashboards-src/` generates, and they hold together:
 * unique uids in the folders of the stack spec, only provisioned datasources, links that resolve,
 * described panels with units, drill-downs from every latency and error panel to traces and logs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { dashboardIndex } from '../../observability/grafana/dashboards-src/lib/dashboard-index.ts';
import { provisionedDatasourceUids } from '../../observability/grafana/dashboards-src/lib/datasources.ts';
import { renderDashboards } from '../../observability/grafana/dashboards-src/render.ts';
import {
  type CommittedDashboard,
  committedDashboards,
  explorePanes,
  type Json,
  linksOf,
  panelsOf,
  repositoryRoot,
  ruleFiles,
  variablesOf,
} from './query-inventory.ts';

/** The dashboards issue 5 asks for: uid → Grafana folder. */
const required: Readonly<Record<string, string>> = {
  'odock-infrastructure': 'Infrastructure',
  'odock-containers': 'Containers',
  'odock-applications': 'Applications',
  'odock-gateway-requests': 'Operations',
  'odock-providers': 'Operations',
  'odock-rate-limits': 'Operations',
  'odock-backend-safety': 'Operations',
  'odock-token-usage': 'Operations',
  'odock-usage-budget': 'Operations',
  'odock-cache-revalidation': 'Operations',
  'odock-logger-health': 'Operations',
  'odock-organizations': 'Organizations',
  'odock-logs-request': 'Logs',
  'odock-logs-explore': 'Logs',
  'odock-traces-overview': 'Traces',
  'odock-otel-pipeline': 'Traces',
};

const dashboards = committedDashboards();
const byUid = new Map(dashboards.map((dashboard) => [String(dashboard.json['uid']), dashboard]));

function eachDashboard(check: (dashboard: CommittedDashboard) => string[]): string[] {
  return dashboards.flatMap((dashboard) =>
    check(dashboard).map((problem) => `${dashboard.path}: ${problem}`),
  );
}

test('the committed dashboard JSON is exactly what `npm run dashboards` generates', async () => {
  const rendered = await renderDashboards();
  const committed = new Map(
    dashboards.map((dashboard) => [
      dashboard.path,
      readFileSync(join(repositoryRoot, dashboard.path), 'utf8'),
    ]),
  );
  for (const generated of rendered) {
    const text = committed.get(generated.path);
    assert.ok(text !== undefined, `${generated.path} is generated but not committed: run npm run dashboards`);
    assert.ok(
      text === generated.text,
      `${generated.path} differs from what the code generates: run npm run dashboards`,
    );
  }
  const stale = [...committed.keys()].filter(
    (path) => !rendered.some((generated) => generated.path === path),
  );
  assert.deepEqual(stale, [], 'committed dashboards no code generates any more');
});

test('every required dashboard ships once, with its uid, in its folder', () => {
  const uids = dashboards.map((dashboard) => String(dashboard.json['uid']));
  assert.equal(new Set(uids).size, uids.length, `duplicate uids: ${uids.join(', ')}`);
  for (const [uid, folder] of Object.entries(required)) {
    const dashboard = byUid.get(uid);
    assert.ok(dashboard !== undefined, `dashboard ${uid} is missing`);
    assert.equal(dashboard.path, `observability/grafana/dashboards/${folder}/${uid}.json`);
  }
  for (const entry of Object.values(dashboardIndex))
    assert.ok(byUid.has(entry.uid), `${entry.uid} is indexed but not shipped`);
  assert.deepEqual(
    uids.filter((uid) => !(uid in required)),
    [],
    "dashboards outside the issue's list",
  );
});

test('the datasource uids the dashboards rely on are the ones Grafana provisioning creates', () => {
  const directory = join(repositoryRoot, 'observability/grafana/provisioning/datasources');
  const provisioned = readdirSync(directory)
    .filter((name) => name.endsWith('.yml') || name.endsWith('.yaml'))
    .flatMap((name) => {
      const document = parseYaml(readFileSync(join(directory, name), 'utf8')) as { datasources?: Json[] };
      return (document.datasources ?? []).map((datasource) => String(datasource['uid']));
    });
  assert.deepEqual([...provisioned].sort(), [...provisionedDatasourceUids].sort());
});

/** Every datasource reference in a dashboard: panels, targets, variables, Explore panes. */
function datasourceReferences(
  dashboard: CommittedDashboard,
): Array<{ where: string; type: unknown; uid: unknown }> {
  const references: Array<{ where: string; type: unknown; uid: unknown }> = [];
  const add = (where: string, reference: unknown) => {
    if (typeof reference === 'object' && reference !== null)
      references.push({ where, type: (reference as Json)['type'], uid: (reference as Json)['uid'] });
    else if (reference !== undefined) references.push({ where, type: undefined, uid: reference });
  };
  for (const variable of variablesOf(dashboard.json))
    add(`variable $${String(variable['name'])}`, variable['datasource']);
  for (const panel of panelsOf(dashboard.json)) {
    add(`panel "${String(panel['title'])}"`, panel['datasource']);
    for (const target of (panel['targets'] ?? []) as Json[])
      add(`panel "${String(panel['title'])}" target ${String(target['refId'])}`, target['datasource']);
  }
  for (const link of linksOf(dashboard.json, 'link')) {
    const panes = explorePanes(link.url);
    for (const pane of Object.values(panes ?? {}) as Json[]) {
      add(link.origin, { type: undefined, uid: pane['datasource'] });
      for (const query of (pane['queries'] ?? []) as Json[]) add(link.origin, query['datasource']);
    }
  }
  return references;
}

test('every datasource uid a dashboard references is provisioned, directly or through a datasource variable', () => {
  const provisioned = new Set<string>(provisionedDatasourceUids);
  const problems = eachDashboard((dashboard) => {
    const variables = new Map(
      variablesOf(dashboard.json).map((variable) => [String(variable['name']), variable]),
    );
    return datasourceReferences(dashboard).flatMap(({ where, type, uid }) => {
      if (typeof uid !== 'string') return [`${where}: datasource without a uid`];
      const variableName = /^\$\{?(\w+)\}?$/.exec(uid)?.[1];
      if (variableName === undefined)
        return provisioned.has(uid) ? [] : [`${where}: datasource uid "${uid}" is not provisioned`];
      const variable = variables.get(variableName);
      if (variable?.['type'] !== 'datasource') return [`${where}: ${uid} is not a datasource variable`];
      const current = String((variable['current'] as Json | undefined)?.['value']);
      return [
        ...(provisioned.has(current)
          ? []
          : [`${where}: $${variableName} defaults to unprovisioned "${current}"`]),
        ...(type === undefined || type === variable['query']
          ? []
          : [
              `${where}: a ${String(type)} query through $${variableName}, a ${String(variable['query'])} variable`,
            ]),
      ];
    });
  });
  assert.deepEqual(problems, []);
});

test('every link to a dashboard resolves to a shipped dashboard, and each dashboard links onwards', () => {
  const problems = eachDashboard((dashboard) => {
    const links = linksOf(dashboard.json, 'link');
    const targets = links.flatMap((link) => {
      const uid = /^\/d\/([^/?]+)/.exec(link.url)?.[1];
      return uid === undefined ? [] : [{ ...link, uid }];
    });
    return [
      ...targets
        .filter((link) => !byUid.has(link.uid))
        .map((link) => `${link.origin}: /d/${link.uid} is not shipped`),
      ...(targets.some((link) => link.origin.includes('dashboard link'))
        ? []
        : ['no link to a related dashboard']),
    ];
  });
  assert.deepEqual(problems, []);
});

test('every alert rule links to a shipped dashboard', () => {
  const alerts = ruleFiles().flatMap((file) => {
    const document = parseYaml(readFileSync(join(repositoryRoot, file.path), 'utf8')) as {
      groups?: Array<{ rules?: Json[] }>;
    };
    return (document.groups ?? []).flatMap((group) => (group.rules ?? []).filter((rule) => 'alert' in rule));
  });
  const problems = alerts.flatMap((alert) => {
    const link = String((alert['annotations'] as Json | undefined)?.['dashboard'] ?? '');
    const uid = /\/d\/([^/?]+)/.exec(link)?.[1];
    return uid !== undefined && byUid.has(uid)
      ? []
      : [`alert ${String(alert['alert'])}: dashboard "${link}" is not shipped`];
  });
  assert.deepEqual(problems, []);
});

test('every panel is described, has a unit where it shows numbers, and fits the grid without overlap', () => {
  const problems = eachDashboard((dashboard) => {
    const panels = panelsOf(dashboard.json);
    const ids = panels.map((panel) => panel['id']);
    const found: string[] = [];
    if (new Set(ids).size !== ids.length || ids.some((id) => typeof id !== 'number'))
      found.push('panel ids are not unique numbers');
    const occupied = new Map<string, string>();
    for (const panel of panels) {
      const title = String(panel['title']);
      const type = String(panel['type']);
      const { x, y, w, h } = panel['gridPos'] as { x: number; y: number; w: number; h: number };
      if (x < 0 || w < 1 || x + w > 24 || h < 1) found.push(`"${title}" lies outside the 24-column grid`);
      for (let column = x; column < x + w; column++)
        for (let row = y; row < y + h; row++) {
          const cell = `${column},${row}`;
          if (occupied.has(cell)) found.push(`"${title}" overlaps "${occupied.get(cell)}"`);
          occupied.set(cell, title);
        }
      if (type === 'row') continue;
      if (typeof panel['description'] !== 'string' || panel['description'].length < 10)
        found.push(`"${title}" has no description`);
      if (((panel['targets'] ?? []) as Json[]).length === 0 && type !== 'text')
        found.push(`"${title}" has no query`);
      // Numbers need a unit; a TraceQL search table lists traces, whose columns Grafana types itself.
      const unit = ((panel['fieldConfig'] as Json | undefined)?.['defaults'] as Json | undefined)?.['unit'];
      const numeric = ['timeseries', 'stat', 'table', 'bargauge', 'gauge'].includes(type);
      const traceSearch = (panel['datasource'] as Json | undefined)?.['type'] === 'tempo';
      if (numeric && !traceSearch && typeof unit !== 'string') found.push(`"${title}" (${type}) has no unit`);
    }
    return [...new Set(found)];
  });
  assert.deepEqual(problems, []);
});

test('every dashboard has a datasource variable per datasource type it queries, the odock tag, annotations', () => {
  const problems = eachDashboard((dashboard) => {
    const variables = variablesOf(dashboard.json);
    const pickers = new Set(
      variables.filter((variable) => variable['type'] === 'datasource').map((variable) => variable['query']),
    );
    const used = new Set(
      panelsOf(dashboard.json)
        .map((panel) => (panel['datasource'] as Json | undefined)?.['type'])
        .filter((type) => type !== undefined),
    );
    return [
      ...[...used]
        .filter((type) => !pickers.has(type))
        .map((type) => `queries ${String(type)} without a datasource variable`),
      ...(((dashboard.json['tags'] ?? []) as string[]).includes('odock') ? [] : ['missing the odock tag']),
      ...(Array.isArray((dashboard.json['annotations'] as Json | undefined)?.['list'])
        ? []
        : ['no annotations list']),
    ];
  });
  assert.deepEqual(problems, []);
});

test('dashboards offer the template variables their subject needs', () => {
  const expected: Readonly<Record<string, readonly string[]>> = {
    'odock-infrastructure': ['datasource', 'instance'],
    'odock-containers': ['datasource', 'instance', 'container'],
    'odock-applications': ['datasource', 'job', 'instance'],
    'odock-gateway-requests': ['datasource', 'instance', 'route'],
    'odock-providers': ['datasource', 'instance', 'provider', 'model'],
    'odock-rate-limits': ['datasource', 'instance'],
    'odock-backend-safety': ['datasource', 'instance'],
    'odock-token-usage': ['datasource', 'provider', 'model', 'organization', 'api_key'],
    'odock-usage-budget': ['datasource', 'instance'],
    'odock-cache-revalidation': ['datasource', 'instance'],
    'odock-logger-health': ['datasource', 'instance'],
    'odock-organizations': ['datasource', 'organization', 'provider', 'model'],
    'odock-logs-request': ['loki_datasource', 'request_id'],
    'odock-logs-explore': ['loki_datasource', 'service', 'level'],
    'odock-traces-overview': ['datasource', 'tempo_datasource', 'service'],
    'odock-otel-pipeline': ['datasource', 'collector', 'exporter'],
  };
  const problems = Object.entries(expected).flatMap(([uid, names]) => {
    const dashboard = byUid.get(uid);
    const present = new Set(
      dashboard === undefined ? [] : variablesOf(dashboard.json).map((variable) => variable['name']),
    );
    return names.filter((name) => !present.has(name)).map((name) => `${uid}: no $${name} variable`);
  });
  assert.deepEqual(problems, []);
});

/**
 * Panels an investigation starts from: latencies and failures of the request path, i.e. panels
 * over the gateway's own series, its span metrics, the edge in front of it or the Collector that
 * carries its traces (the monitoring stack's self-metrics have no traces to drill into).
 */
function isDrillDownPanel(panel: Json): boolean {
  const requestPath = /gateway_|traces_spanmetrics|traefik_|otelcol_/;
  return (
    panel['type'] === 'timeseries' &&
    /latency|error|fail|reject|block/i.test(String(panel['title'])) &&
    ((panel['targets'] ?? []) as Json[]).some((target) => requestPath.test(String(target['expr'] ?? '')))
  );
}

test('every latency and error panel drills down to traces in Tempo and logs in Loki', () => {
  const problems = eachDashboard((dashboard) =>
    panelsOf(dashboard.json)
      .filter(isDrillDownPanel)
      .flatMap((panel) => {
        const kinds = new Set(
          linksOf({ panels: [panel] }, 'panel').flatMap((link) =>
            Object.values(explorePanes(link.url) ?? {}).map((pane) => (pane as Json)['datasource']),
          ),
        );
        return ['tempo', 'loki']
          .filter((kind) => !kinds.has(kind))
          .map((kind) => `"${String(panel['title'])}" has no drill-down into ${kind}`);
      }),
  );
  assert.deepEqual(problems, []);
  const drilled = dashboards.flatMap((dashboard) => panelsOf(dashboard.json).filter(isDrillDownPanel));
  assert.ok(drilled.length >= 25, `expected the latency and error panels, found ${drilled.length}`);
});

test("the Request Logs dashboard shows one request's lines by structured metadata and links to its trace", () => {
  const dashboard = byUid.get('odock-logs-request');
  assert.ok(dashboard !== undefined);
  const variable = variablesOf(dashboard.json).find((candidate) => candidate['name'] === 'request_id');
  assert.equal(variable?.['type'], 'textbox');
  const targets = panelsOf(dashboard.json).flatMap((panel) =>
    ((panel['targets'] ?? []) as Json[]).map((target) => ({ panel, target })),
  );
  const logLines = targets.find(({ panel }) => panel['type'] === 'logs');
  assert.match(String(logLines?.target['expr']), /\| request_id="\$request_id"/);
  const traceSearch = targets.find(({ target }) => target['queryType'] === 'traceql');
  assert.match(String(traceSearch?.target['query']), /span\.gateway\.request_id = "\$request_id"/);
  const traceLink = linksOf(dashboard.json, 'link').find(
    (link) => explorePanes(link.url)?.['odock'] !== undefined && link.url.includes('tempo'),
  );
  assert.ok(traceLink !== undefined, 'no link to the trace in Tempo Explore');
  assert.match(JSON.stringify(explorePanes(traceLink.url)), /gateway\.request_id = \\"\$\{request_id\}\\"/);
});
