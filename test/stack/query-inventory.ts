/**
 * Every query the stack ships, gathered for the query and coverage tests: the targets, variable
 * queries and Explore links of each committed dashboard, and the expression of each rule in
 * `observability/prometheus/rules/*.yml` (alerts included, whoever wrote them). Grafana
 * variables are substituted with the values a dashboard would use by default, so a query is
 * parsed the way Grafana would send it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const repositoryRoot = join(import.meta.dirname, '..', '..');
export const dashboardsDirectory = join(repositoryRoot, 'observability/grafana/dashboards');
export const rulesDirectory = join(repositoryRoot, 'observability/prometheus/rules');

export type Json = Record<string, unknown>;
export type Language = 'promql' | 'logql' | 'traceql';

export interface Query {
  readonly language: Language;
  /** As written in the dashboard or rule. */
  readonly raw: string;
  /** With Grafana variables replaced by default values; what the parsers read. */
  readonly text: string;
  /** Where it comes from, for failure messages. */
  readonly origin: string;
  /** A Grafana `label_values(<selector>, <label>)` variable query, not plain PromQL or LogQL. */
  readonly labelValues?: { readonly selector: string | undefined; readonly label: string };
}

export interface CommittedDashboard {
  readonly path: string;
  readonly json: Json;
}

function listFiles(directory: string, extension: string): string[] {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(extension))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

export function committedDashboards(): CommittedDashboard[] {
  return listFiles(dashboardsDirectory, '.json').map((path) => ({
    path: relative(repositoryRoot, path),
    json: JSON.parse(readFileSync(path, 'utf8')) as Json,
  }));
}

/** Panels of a dashboard, with those nested in collapsed rows. */
export function panelsOf(dashboard: Json): Json[] {
  const top = (dashboard['panels'] ?? []) as Json[];
  return top.flatMap((panel) => [panel, ...((panel['panels'] ?? []) as Json[])]);
}

export function variablesOf(dashboard: Json): Json[] {
  return (((dashboard['templating'] as Json | undefined)?.['list'] ?? []) as Json[]).slice();
}

// ---------------------------------------------------------------------------------------------
// Variable substitution

/** Stands in for values only known when a link is clicked (`${__field.labels.route}`, ...). */
export const linkPlaceholder = 'link-placeholder';

const builtins: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '1m',
  __auto: '1m',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
  __interval_ms: '60000',
  __from: '1700000000000',
  __to: '1700003600000',
  __url_time_range: 'from=1700000000000&to=1700003600000',
  '__value.raw': '0.25',
  '__value.numeric': '0.25',
  '__value.time': '1700000000000',
};

/** The value Grafana would substitute for a dashboard variable when the dashboard opens. */
function defaultValue(variable: Json): string {
  const current = variable['current'] as Json | undefined;
  const value = current?.['value'];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === '$__all') return String(variable['allValue'] ?? '.*');
  if (typeof first === 'string') return first;
  return '';
}

export class UnknownVariableError extends Error {}

/**
 * Replaces `$name`, `${name}`, `${name:format}` and `[[name]]` with the dashboard's default
 * values and Grafana's built-ins; a reference to a variable the dashboard does not define is an
 * error (Grafana would send it literally).
 */
export function substitute(text: string, variables: readonly Json[]): string {
  const values = new Map(variables.map((variable) => [String(variable['name']), defaultValue(variable)]));
  return text.replace(
    /\$\{([^}:]+)(?::[^}]*)?\}|\[\[([^\]:]+)(?::[^\]]*)?\]\]|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined, bracketed: string | undefined, bare: string | undefined) => {
      const name = braced ?? bracketed ?? bare ?? '';
      if (name in builtins) return builtins[name]!;
      if (/^__(field|series|data|value)\b/.test(name)) return linkPlaceholder;
      const value = values.get(name);
      if (value === undefined) throw new UnknownVariableError(`unknown Grafana variable ${match}`);
      return value;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Dashboards

function datasourceType(reference: unknown, variables: readonly Json[]): string | undefined {
  if (typeof reference !== 'object' || reference === null) return undefined;
  const { type, uid } = reference as Json;
  if (typeof type === 'string') return type;
  const variableName = typeof uid === 'string' ? /^\$\{?(\w+)\}?$/.exec(uid)?.[1] : undefined;
  const variable = variables.find((candidate) => candidate['name'] === variableName);
  return typeof variable?.['query'] === 'string' ? variable['query'] : undefined;
}

const languageOf: Readonly<Record<string, Language>> = {
  prometheus: 'promql',
  loki: 'logql',
  tempo: 'traceql',
};

/** Grafana's `label_values(label)` / `label_values(selector, label)` variable query syntax. */
export function parseLabelValues(query: string): { selector: string | undefined; label: string } | undefined {
  const match = /^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/s.exec(query);
  if (match === null) return undefined;
  return { selector: match[1], label: match[2]! };
}

function variableQueries(variables: readonly Json[], origin: string): Query[] {
  return variables.flatMap((variable): Query[] => {
    if (variable['type'] !== 'query') return [];
    const language = languageOf[datasourceType(variable['datasource'], variables) ?? ''];
    const raw =
      typeof variable['query'] === 'string'
        ? variable['query']
        : String((variable['query'] as Json)?.['query']);
    const where = `${origin} variable $${String(variable['name'])}`;
    if (language === undefined) throw new Error(`${where}: cannot tell the query language of its datasource`);
    const labelValues = parseLabelValues(raw);
    if (labelValues === undefined)
      throw new Error(`${where}: only label_values(...) variable queries are expected, got ${raw}`);
    const others = variables.filter((other) => other !== variable);
    return [
      {
        language,
        raw,
        text: labelValues.selector === undefined ? '' : substitute(labelValues.selector, others),
        origin: where,
        labelValues,
      },
    ];
  });
}

function targetQueries(dashboard: Json, variables: readonly Json[], origin: string): Query[] {
  return panelsOf(dashboard).flatMap((panel) =>
    ((panel['targets'] ?? []) as Json[]).map((target): Query => {
      const type =
        datasourceType(target['datasource'], variables) ?? datasourceType(panel['datasource'], variables);
      const language = languageOf[type ?? ''];
      const where = `${origin} panel "${String(panel['title'])}" target ${String(target['refId'])}`;
      if (language === undefined) throw new Error(`${where}: unknown datasource type ${String(type)}`);
      const raw = String(language === 'traceql' ? target['query'] : target['expr']);
      return { language, raw, text: substitute(raw, variables), origin: where };
    }),
  );
}

/** Every URL a dashboard links to: dashboard links, panel links, data links. */
export function linksOf(
  dashboard: Json,
  origin: string,
): Array<{ origin: string; title: string; url: string }> {
  const dashboardLinks = ((dashboard['links'] ?? []) as Json[]).map((link) => ({
    origin: `${origin} dashboard link "${String(link['title'])}"`,
    title: String(link['title']),
    url: String(link['url'] ?? ''),
  }));
  const panelLinks = panelsOf(dashboard).flatMap((panel) => {
    const defaults = (panel['fieldConfig'] as Json | undefined)?.['defaults'] as Json | undefined;
    return [...((panel['links'] ?? []) as Json[]), ...((defaults?.['links'] ?? []) as Json[])].map(
      (link) => ({
        origin: `${origin} panel "${String(panel['title'])}" link "${String(link['title'])}"`,
        title: String(link['title']),
        url: String(link['url'] ?? ''),
      }),
    );
  });
  return [...dashboardLinks, ...panelLinks].filter((link) => link.url !== '');
}

/** Decodes an Explore URL's `panes` (schemaVersion 1), keeping Grafana's `${...}` as written. */
export function explorePanes(url: string): Json | undefined {
  if (!url.startsWith('/explore?')) return undefined;
  const parameters = new URLSearchParams(url.slice('/explore?'.length));
  const panes = parameters.get('panes');
  if (panes === null) throw new Error(`Explore link without panes: ${url}`);
  return JSON.parse(panes) as Json;
}

function exploreQueries(dashboard: Json, variables: readonly Json[], origin: string): Query[] {
  return linksOf(dashboard, origin).flatMap((link) => {
    const panes = explorePanes(link.url);
    if (panes === undefined) return [];
    return Object.values(panes).flatMap((pane) =>
      (((pane as Json)['queries'] ?? []) as Json[]).map((query): Query => {
        const language = languageOf[datasourceType(query['datasource'], variables) ?? ''];
        if (language === undefined)
          throw new Error(`${link.origin}: Explore query without a known datasource`);
        const raw = String(language === 'traceql' ? query['query'] : query['expr']);
        return { language, raw, text: substitute(raw, variables), origin: link.origin };
      }),
    );
  });
}

export function dashboardQueries(dashboard: CommittedDashboard): Query[] {
  const variables = variablesOf(dashboard.json);
  return [
    ...variableQueries(variables, dashboard.path),
    ...targetQueries(dashboard.json, variables, dashboard.path),
    ...exploreQueries(dashboard.json, variables, dashboard.path),
  ];
}

// ---------------------------------------------------------------------------------------------
// Rules

export interface RuleFile {
  readonly path: string;
  readonly rules: ReadonlyArray<{
    readonly group: string;
    readonly record?: string;
    readonly alert?: string;
    readonly expr: string;
    readonly labels: Readonly<Record<string, string>>;
  }>;
}

export function ruleFiles(): RuleFile[] {
  return listFiles(rulesDirectory, '.yml').map((path) => {
    const document = parseYaml(readFileSync(path, 'utf8')) as {
      groups?: Array<{ name: string; rules?: Array<Record<string, unknown>> }>;
    };
    return {
      path: relative(repositoryRoot, path),
      rules: (document.groups ?? []).flatMap((group) =>
        (group.rules ?? []).map((rule) => ({
          group: group.name,
          ...(typeof rule['record'] === 'string' ? { record: rule['record'] } : {}),
          ...(typeof rule['alert'] === 'string' ? { alert: rule['alert'] } : {}),
          expr: String(rule['expr']),
          labels: (rule['labels'] ?? {}) as Record<string, string>,
        })),
      ),
    };
  });
}

export function ruleQueries(): Query[] {
  return ruleFiles().flatMap((file) =>
    file.rules.map((rule) => ({
      language: 'promql' as const,
      raw: rule.expr,
      text: rule.expr,
      origin: `${file.path} ${rule.record ?? rule.alert ?? '(unnamed rule)'}`,
    })),
  );
}
