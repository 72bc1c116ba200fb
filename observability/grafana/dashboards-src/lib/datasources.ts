/**
 * The datasources the dashboards query. Their uids are fixed by the Grafana provisioning
 * (`observability/grafana/provisioning/datasources/`), which is what lets a panel, a variable
 * default and an Explore link name them; `test/stack/dashboards.test.ts` refuses any other uid.
 */
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/** Every uid Grafana provisioning creates; a dashboard may reference no other. */
export const provisionedDatasourceUids = ['prometheus', 'loki', 'tempo', 'alertmanager'] as const;

export type QueryDatasource = 'prometheus' | 'loki' | 'tempo';

/**
 * Panels query through a datasource variable so an operator can point a dashboard at another
 * instance of the same type; each variable defaults to the provisioned uid.
 */
export const datasourceVariables = {
  prometheus: 'datasource',
  loki: 'loki_datasource',
  tempo: 'tempo_datasource',
} as const satisfies Record<QueryDatasource, string>;

export const datasourceLabels = {
  prometheus: 'Prometheus',
  loki: 'Loki',
  tempo: 'Tempo',
} as const satisfies Record<QueryDatasource, string>;

/** The reference panels and targets carry: the type, and the uid through the variable. */
export function panelDatasource(kind: QueryDatasource): DataSourceRef {
  return { type: kind, uid: `\${${datasourceVariables[kind]}}` };
}

/**
 * Explore links leave the dashboard, where its variables no longer resolve, so they name the
 * provisioned uid itself.
 */
export function provisionedDatasource(kind: QueryDatasource): { type: QueryDatasource; uid: string } {
  return { type: kind, uid: kind };
}
