/**
 * Template variables. Label-value variables are multi-select with an "All" that means `.*`, so
 * every selector can match them with `=~"$name"` whatever is selected. Queries use Grafana's
 * `label_values(<selector>, <label>)` form, which the query test parses as PromQL or LogQL.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  datasourceLabels,
  datasourceVariables,
  panelDatasource,
  type QueryDatasource,
} from './datasources.ts';

export type Variable = cog.Builder<dashboard.VariableModel>;

const all: dashboard.VariableOption = { text: 'All', value: '$__all' };

/** A datasource picker defaulting to the provisioned uid of that type. */
export function datasourceVariable(kind: QueryDatasource): Variable {
  return new dashboard.DatasourceVariableBuilder(datasourceVariables[kind])
    .label(datasourceLabels[kind])
    .description(`${datasourceLabels[kind]} datasource the panels query (provisioned uid "${kind}").`)
    .type(kind)
    .current({ text: datasourceLabels[kind], value: kind });
}

/** Values of a label on a Prometheus series. */
export function promLabelValues(options: {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly selector: string;
  readonly labelName: string;
  /** A fixed default instead of "All". */
  readonly current?: string;
  readonly multi?: boolean;
}): Variable {
  const query = `label_values(${options.selector}, ${options.labelName})`;
  return new dashboard.QueryVariableBuilder(options.name)
    .label(options.label)
    .description(options.description)
    .datasource(panelDatasource('prometheus'))
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(options.multi ?? true)
    .includeAll(true)
    .allValue('.*')
    .current(options.current === undefined ? all : { text: options.current, value: options.current });
}

/** Values of a Loki stream label. */
export function lokiLabelValues(options: {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly labelName: string;
  readonly current: string;
}): Variable {
  const query = `label_values(${options.labelName})`;
  return new dashboard.QueryVariableBuilder(options.name)
    .label(options.label)
    .description(options.description)
    .datasource(panelDatasource('loki'))
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.+')
    .current({ text: options.current, value: options.current });
}

/** A fixed list of choices. */
export function customVariable(options: {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly values: readonly string[];
  readonly current: string;
  readonly includeAll?: boolean;
}): Variable {
  const variable = new dashboard.CustomVariableBuilder(options.name)
    .label(options.label)
    .description(options.description)
    .values(options.values.join(','))
    .options(options.values.map((value) => ({ text: value, value, selected: value === options.current })))
    .current({ text: options.current, value: options.current });
  if (options.includeAll) variable.multi(true).includeAll(true).allValue('.*');
  return variable;
}

/** Free text, e.g. a request id pasted from an `X-Request-Id` header. */
export function textVariable(options: {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly defaultValue: string;
}): Variable {
  return new dashboard.TextBoxVariableBuilder(options.name)
    .label(options.label)
    .description(options.description)
    .defaultValue(options.defaultValue)
    .current({ text: options.defaultValue, value: options.defaultValue });
}
