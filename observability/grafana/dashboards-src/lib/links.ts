/**
 * Links between dashboards and drill-downs into Explore. The workflow every dashboard serves
 * (stack spec, section 5): spot an anomaly in a metric, jump to the traces or the log lines
 * behind it, confirm with the usage record. Drill-downs open Explore with a TraceQL or LogQL
 * query built from the clicked series' labels (`${__field.labels.<label>}`) over the dashboard's
 * time range (`${__from}`, `${__to}`), which Grafana substitutes when the link is clicked.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { type DashboardEntry, dashboardPath } from './dashboard-index.ts';
import { provisionedDatasource, type QueryDatasource } from './datasources.ts';
import { grafanaVariable } from './grafana-variables.ts';
import { gatewayStreamFixed } from './log-streams.ts';

export interface DataLink {
  readonly title: string;
  readonly url: string;
}

/** Grafana template syntax (`${...}`) must survive URL encoding so Grafana can substitute it. */
const grafanaVariablePattern = /(\$\{[^}]+\})/;

function encodeKeepingVariables(text: string): string {
  return text
    .split(grafanaVariablePattern)
    .map((part) => (grafanaVariablePattern.test(part) ? part : encodeURIComponent(part)))
    .join('');
}

/** Explore URL (schemaVersion 1: one pane keyed by an id) with one query over the dashboard's range. */
export function exploreUrl(kind: QueryDatasource, query: Readonly<Record<string, unknown>>): string {
  const datasource = provisionedDatasource(kind);
  const panes = {
    odock: {
      datasource: datasource.uid,
      queries: [{ refId: 'A', datasource, ...query }],
      range: { from: grafanaVariable('__from'), to: grafanaVariable('__to') },
    },
  };
  return `/explore?schemaVersion=1&orgId=1&panes=${encodeKeepingVariables(JSON.stringify(panes))}`;
}

export function tracesLink(title: string, traceqlQuery: string): DataLink {
  return {
    title,
    url: exploreUrl('tempo', { queryType: 'traceql', query: traceqlQuery, limit: 20, tableType: 'traces' }),
  };
}

export function logsLink(title: string, logqlQuery: string): DataLink {
  return { title, url: exploreUrl('loki', { expr: logqlQuery, queryType: 'range', editorMode: 'code' }) };
}

/**
 * The pair every latency and error panel carries: the traces behind the clicked series and the
 * gateway's log lines narrowed the same way (`logFilter` is a LogQL pipeline after `| json`).
 */
export function drillDown(options: {
  readonly traces: string;
  readonly logFilter: string;
  readonly what: string;
}): DataLink[] {
  return [
    tracesLink(`Traces: ${options.what}`, options.traces),
    logsLink(`Logs: ${options.what}`, `${gatewayStreamFixed} | json${options.logFilter}`),
  ];
}

/** A data link to another dashboard, carrying the time range and chosen variable values. */
export function dashboardDataLink(
  title: string,
  entry: DashboardEntry,
  variables: Readonly<Record<string, string>> = {},
): DataLink {
  const query = Object.entries(variables)
    .map(([name, value]) => `var-${name}=${value}`)
    .concat(grafanaVariable('__url_time_range'))
    .join('&');
  return { title, url: `${dashboardPath(entry)}?${query}` };
}

/**
 * A dashboard-level link. `includeVars` carries the current variable values, which only makes
 * sense between dashboards whose variables mean the same thing (the gateway's `instance`).
 */
export function linkTo(
  entry: DashboardEntry,
  options: { readonly includeVars?: boolean } = {},
): cog.Builder<dashboard.DashboardLink> {
  return new dashboard.DashboardLinkBuilder(entry.title)
    .type(dashboard.DashboardLinkType.Link)
    .url(dashboardPath(entry))
    .icon('dashboard')
    .tooltip(`Open ${entry.title}`)
    .keepTime(true)
    .includeVars(options.includeVars ?? false);
}

/** A dashboard-level link to Explore (an entry point, not tied to a series). */
export function exploreLink(title: string, link: DataLink): cog.Builder<dashboard.DashboardLink> {
  return new dashboard.DashboardLinkBuilder(title)
    .type(dashboard.DashboardLinkType.Link)
    .url(link.url)
    .icon('external link')
    .tooltip(link.title)
    .keepTime(false)
    .includeVars(false);
}

/** The dropdown of every shipped dashboard (all carry the `odock` tag). */
export function allDashboardsLink(): cog.Builder<dashboard.DashboardLink> {
  return new dashboard.DashboardLinkBuilder('All odock dashboards')
    .type(dashboard.DashboardLinkType.Dashboards)
    .tags(['odock'])
    .asDropdown(true)
    .keepTime(true)
    .includeVars(false);
}

/** Converts data links to the builders the SDK's `dataLinks()` accepts. */
export function dataLinkBuilders(links: readonly DataLink[]): cog.Builder<dashboard.DashboardLink>[] {
  return links.map((link) => new dashboard.DashboardLinkBuilder(link.title).url(link.url));
}
