/**
 * Query targets for the three query languages. Panels list targets as plain data; the refIds
 * (A, B, C, ...) are assigned here in order, because the SDK is pre-1.0 and leaves them unset,
 * which would make the generated JSON unstable.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as loki from '@grafana/grafana-foundation-sdk/loki';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as tempo from '@grafana/grafana-foundation-sdk/tempo';
import { panelDatasource, type QueryDatasource } from './datasources.ts';

export interface PromTarget {
  readonly kind: 'prometheus';
  readonly expr: string;
  readonly legend?: string;
  /** One value per series (stat, table) instead of a range. */
  readonly instant?: boolean;
  readonly table?: boolean;
}

export interface LokiTarget {
  readonly kind: 'loki';
  readonly expr: string;
  readonly legend?: string;
  readonly instant?: boolean;
  readonly maxLines?: number;
}

export interface TraceqlTarget {
  readonly kind: 'tempo';
  readonly query: string;
  readonly limit?: number;
  /** `traces` lists matching traces; `spans` lists the matching spans themselves. */
  readonly table?: 'traces' | 'spans';
}

export type Target = PromTarget | LokiTarget | TraceqlTarget;

export function prom(expr: string, options: Omit<PromTarget, 'kind' | 'expr'> = {}): PromTarget {
  return { kind: 'prometheus', expr, ...options };
}

export function logql(expr: string, options: Omit<LokiTarget, 'kind' | 'expr'> = {}): LokiTarget {
  return { kind: 'loki', expr, ...options };
}

export function traceql(query: string, options: Omit<TraceqlTarget, 'kind' | 'query'> = {}): TraceqlTarget {
  return { kind: 'tempo', query, ...options };
}

export function refIdAt(index: number): string {
  return String.fromCharCode('A'.charCodeAt(0) + index);
}

/** The single datasource kind of a panel's targets (Grafana needs "-- Mixed --" otherwise). */
export function datasourceOf(targets: readonly Target[]): QueryDatasource {
  const kinds = new Set(targets.map((target) => target.kind));
  const [kind] = kinds;
  if (kinds.size !== 1 || kind === undefined)
    throw new Error(`a panel queries exactly one datasource kind, got: ${[...kinds].join(', ') || 'none'}`);
  return kind;
}

export function buildTarget(target: Target, refId: string): cog.Builder<cog.Dataquery> {
  switch (target.kind) {
    case 'prometheus': {
      const query = new prometheus.DataqueryBuilder()
        .datasource(panelDatasource('prometheus'))
        .editorMode(prometheus.QueryEditorMode.Code)
        .expr(target.expr)
        .legendFormat(target.legend ?? '__auto')
        .refId(refId);
      if (target.table) query.format(prometheus.PromQueryFormat.Table);
      return target.instant ? query.instant() : query.range();
    }
    case 'loki': {
      const query = new loki.DataqueryBuilder()
        .datasource(panelDatasource('loki'))
        .editorMode(loki.QueryEditorMode.Code)
        .expr(target.expr)
        .queryType(target.instant ? 'instant' : 'range')
        .refId(refId);
      if (target.legend !== undefined) query.legendFormat(target.legend);
      if (target.maxLines !== undefined) query.maxLines(target.maxLines);
      return query;
    }
    case 'tempo':
      return new tempo.DataqueryBuilder()
        .datasource(panelDatasource('tempo'))
        .queryType('traceql')
        .query(target.query)
        .limit(target.limit ?? 20)
        .tableType(target.table === 'spans' ? tempo.SearchTableType.Spans : tempo.SearchTableType.Traces)
        .refId(refId);
  }
}
