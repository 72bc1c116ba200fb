/**
 * Panel factories. Every panel states what it shows (`description`) and its unit, so a reader
 * never has to guess whether a line is per second, a ratio or a duration. Widths are in
 * Grafana's 24-column grid; the dashboard lays panels out left to right, row by row.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as logsPanel from '@grafana/grafana-foundation-sdk/logs';
import * as statPanel from '@grafana/grafana-foundation-sdk/stat';
import * as statetimelinePanel from '@grafana/grafana-foundation-sdk/statetimeline';
import * as tablePanel from '@grafana/grafana-foundation-sdk/table';
import * as textPanel from '@grafana/grafana-foundation-sdk/text';
import * as timeseriesPanel from '@grafana/grafana-foundation-sdk/timeseries';
import { panelDatasource } from './datasources.ts';
import { type DataLink, dataLinkBuilders } from './links.ts';
import { buildTarget, datasourceOf, refIdAt, type Target } from './targets.ts';

export type Panel = cog.Builder<dashboard.Panel>;

interface PanelBase {
  readonly title: string;
  readonly description: string;
  /** Columns out of 24. */
  readonly width?: number;
  readonly height?: number;
}

interface QueryPanel extends PanelBase {
  readonly targets: readonly Target[];
  /** A Grafana unit id (`reqps`, `s`, `percentunit`, `bytes`, ...) or `suffix:<text>`. */
  readonly unit: string;
  readonly links?: readonly DataLink[];
  readonly decimals?: number;
  readonly min?: number;
  readonly max?: number;
  /** Ascending step values: green below the first, then orange, then red. */
  readonly thresholds?: readonly [number] | readonly [number, number];
}

/** The builder methods every SDK panel builder shares. */
interface CommonPanelBuilder<Self> {
  title(title: string): Self;
  description(description: string): Self;
  span(width: number): Self;
  height(height: number): Self;
  datasource(datasource: common.DataSourceRef): Self;
  withTarget(target: cog.Builder<cog.Dataquery>): Self;
  unit(unit: string): Self;
  decimals(decimals: number): Self;
  min(min: number): Self;
  max(max: number): Self;
  thresholds(thresholds: cog.Builder<dashboard.ThresholdsConfig>): Self;
  dataLinks(links: cog.Builder<dashboard.DashboardLink>[]): Self;
}

function thresholdSteps(steps: QueryPanel['thresholds']): cog.Builder<dashboard.ThresholdsConfig> {
  const colors = ['orange', 'red'];
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps([
      { value: null, color: 'green' },
      ...(steps ?? []).map((value, index) => ({ value, color: colors[index] ?? 'red' })),
    ]);
}

function withBase<Builder extends CommonPanelBuilder<Builder>>(
  builder: Builder,
  options: PanelBase,
  defaults: { width: number; height: number },
): Builder {
  return builder
    .title(options.title)
    .description(options.description)
    .span(options.width ?? defaults.width)
    .height(options.height ?? defaults.height);
}

function withQueries<Builder extends CommonPanelBuilder<Builder>>(
  builder: Builder,
  options: QueryPanel,
  defaults: { width: number; height: number },
): Builder {
  const configured = withBase(builder, options, defaults)
    .datasource(panelDatasource(datasourceOf(options.targets)))
    .unit(options.unit)
    .thresholds(thresholdSteps(options.thresholds));
  options.targets.forEach((target, index) => {
    configured.withTarget(buildTarget(target, refIdAt(index)));
  });
  if (options.decimals !== undefined) configured.decimals(options.decimals);
  if (options.min !== undefined) configured.min(options.min);
  if (options.max !== undefined) configured.max(options.max);
  if (options.links !== undefined && options.links.length > 0)
    configured.dataLinks(dataLinkBuilders(options.links));
  return configured;
}

export interface TimeseriesOptions extends QueryPanel {
  /** Stack series (`normal`) or show each as a share of the total (`percent`). */
  readonly stack?: 'normal' | 'percent';
  /** Draw the thresholds as dashed lines (for ratios with an alert threshold). */
  readonly showThresholds?: boolean;
}

export function timeseries(options: TimeseriesOptions): Panel {
  const panel = withQueries(new timeseriesPanel.PanelBuilder(), options, { width: 12, height: 8 })
    .lineWidth(1)
    .fillOpacity(options.stack === undefined ? 10 : 30)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
  if (options.stack !== undefined)
    panel.stacking(
      new common.StackingConfigBuilder().mode(
        options.stack === 'percent' ? common.StackingMode.Percent : common.StackingMode.Normal,
      ),
    );
  if (options.showThresholds)
    panel.thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
  return panel;
}

export interface StatOptions extends QueryPanel {
  /** Text per exact value, e.g. `{ 0: 'DOWN', 1: 'UP' }`, coloured red and green. */
  readonly upDown?: boolean;
}

export function stat(options: StatOptions): Panel {
  const panel = withQueries(new statPanel.PanelBuilder(), options, { width: 4, height: 4 })
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  if (options.upDown)
    panel.mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: {
          '0': { text: 'DOWN', color: 'red', index: 0 },
          '1': { text: 'UP', color: 'green', index: 1 },
        },
      },
    ]);
  return panel;
}

export function table(
  options: QueryPanel & { readonly transformations?: dashboard.DataTransformerConfig[] },
): Panel {
  const panel = withQueries(new tablePanel.PanelBuilder(), options, { width: 12, height: 8 })
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm);
  for (const transformation of options.transformations ?? []) panel.withTransformation(transformation);
  return panel;
}

/** Up/down (or any small set of states) over time, one lane per series. */
export function stateTimeline(options: QueryPanel): Panel {
  return withQueries(new statetimelinePanel.PanelBuilder(), options, { width: 24, height: 8 })
    .showValue(common.VisibilityMode.Never)
    .mergeValues(true)
    .mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: {
          '0': { text: 'DOWN', color: 'red', index: 0 },
          '1': { text: 'UP', color: 'green', index: 1 },
        },
      },
    ]);
}

export function logs(options: PanelBase & { readonly targets: readonly Target[] }): Panel {
  const panel = withBase(new logsPanel.PanelBuilder(), options, { width: 24, height: 14 })
    .datasource(panelDatasource(datasourceOf(options.targets)))
    .showTime(true)
    .showLabels(false)
    .showCommonLabels(false)
    .wrapLogMessage(true)
    .prettifyLogMessage(false)
    .enableLogDetails(true)
    .sortOrder(common.LogsSortOrder.Descending)
    .dedupStrategy(common.LogsDedupStrategy.None);
  options.targets.forEach((target, index) => {
    panel.withTarget(buildTarget(target, refIdAt(index)));
  });
  return panel;
}

/** TraceQL search results: one row per trace (or span); the trace id opens the trace view. */
export function traceSearch(options: PanelBase & { readonly targets: readonly Target[] }): Panel {
  const panel = withBase(new tablePanel.PanelBuilder(), options, { width: 12, height: 10 })
    .datasource(panelDatasource(datasourceOf(options.targets)))
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm);
  options.targets.forEach((target, index) => {
    panel.withTarget(buildTarget(target, refIdAt(index)));
  });
  return panel;
}

export function text(options: PanelBase & { readonly markdown: string }): Panel {
  return withBase(new textPanel.PanelBuilder(), options, { width: 24, height: 4 })
    .mode(textPanel.TextMode.Markdown)
    .content(options.markdown);
}
