/**
 * The common skeleton of every dashboard: uid and folder from the index, the `odock` tag, a
 * time range, variables, links to related dashboards, and rows of panels. `finalize` turns the
 * SDK's output into the JSON Grafana provisions.
 */

import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type { DashboardEntry } from './dashboard-index.ts';
import { allDashboardsLink, linkTo } from './links.ts';
import type { Panel } from './panels.ts';
import type { Variable } from './variables.ts';

export interface Row {
  readonly title: string;
  readonly panels: readonly Panel[];
}

export interface DashboardSpec {
  readonly entry: DashboardEntry;
  readonly description: string;
  readonly tags: readonly string[];
  readonly variables: readonly Variable[];
  /** Dashboards one level up or sideways in an investigation. */
  readonly related: readonly DashboardEntry[];
  /** Carry variable values to related dashboards (they share the gateway's `instance`). */
  readonly carryVariables?: boolean;
  /** Further dashboard-level links (Explore entry points). */
  readonly extraLinks?: readonly cog.Builder<dashboard.DashboardLink>[];
  readonly rows: readonly Row[];
  readonly timeFrom?: string;
}

export interface GeneratedDashboard {
  readonly entry: DashboardEntry;
  build(): Record<string, unknown>;
}

export function defineDashboard(spec: DashboardSpec): GeneratedDashboard {
  return {
    entry: spec.entry,
    build() {
      const builder = new dashboard.DashboardBuilder(spec.entry.title)
        .uid(spec.entry.uid)
        .description(spec.description)
        .tags(['odock', ...spec.tags])
        .timezone('browser')
        .tooltip(dashboard.DashboardCursorSync.Crosshair)
        .time({ from: spec.timeFrom ?? 'now-3h', to: 'now' })
        .refresh('1m')
        .readonly()
        // Grafana expects `annotations.list`; the SDK leaves an empty object without one.
        .annotation(
          new dashboard.AnnotationQueryBuilder()
            .name('Annotations & Alerts')
            .builtIn(1)
            .datasource({ type: 'grafana', uid: '-- Grafana --' })
            .enable(true)
            .hide(true)
            .iconColor('rgba(0, 211, 255, 1)')
            .type('dashboard'),
        );
      for (const variable of spec.variables) builder.withVariable(variable);
      for (const related of spec.related)
        builder.link(linkTo(related, { includeVars: spec.carryVariables ?? false }));
      for (const link of spec.extraLinks ?? []) builder.link(link);
      builder.link(allDashboardsLink());
      for (const row of spec.rows) {
        builder.withRow(new dashboard.RowBuilder(row.title));
        for (const panel of row.panels) builder.withPanel(panel);
      }
      return finalize(builder.build());
    },
  };
}

type Json = Record<string, unknown>;

/**
 * Adjustments to the pre-1.0 SDK's output, each for a reason Grafana cares about:
 * - panel ids: the SDK leaves them unset (rows get 0); Grafana needs unique ids for links to
 *   a panel (`viewPanel`) and for repeat logic, so number them in layout order;
 * - dashboard links and annotations: the SDK fills `placement: inControlsMenu` by default,
 *   which hides them in a menu on Grafana 12+; they belong in the dashboard header;
 * - data links: the SDK types them as dashboard links; Grafana's data link is `{title, url,
 *   targetBlank}`, so drop the fields that do not apply.
 */
function finalize(built: dashboard.Dashboard): Json {
  const json = JSON.parse(JSON.stringify(built)) as Json;
  let nextId = 1;
  for (const panel of (json['panels'] ?? []) as Json[]) {
    panel['id'] = nextId++;
    for (const nested of (panel['panels'] ?? []) as Json[]) nested['id'] = nextId++;
    const defaults = (panel['fieldConfig'] as Json | undefined)?.['defaults'] as Json | undefined;
    const links = defaults?.['links'] as Json[] | undefined;
    if (defaults !== undefined && links !== undefined)
      defaults['links'] = links.map((link) => ({
        title: link['title'],
        url: link['url'],
        targetBlank: false,
      }));
  }
  const annotations = ((json['annotations'] as Json | undefined)?.['list'] ?? []) as Json[];
  for (const item of [...((json['links'] ?? []) as Json[]), ...annotations]) delete item['placement'];
  return json;
}
