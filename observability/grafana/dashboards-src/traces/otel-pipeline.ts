/**
 * OTel Pipeline Health (stack spec, section 5): the Collector's exporters (spans, metric
 * points, log records sent and failed), its sending queues (size against capacity), what its
 * receivers accepted or refused, and what the backends behind it ingested. Names are the
 * Collector's own internal-telemetry metrics (listed with their source in
 * `observability/third-party-metrics.yml`); the OTLP-failure alert opens here.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { drillDown } from '../lib/links.ts';
import { stat, timeseries } from '../lib/panels.ts';
import { rate, series, sumBy } from '../lib/promql.ts';
import { prom } from '../lib/targets.ts';
import { datasourceVariable, promLabelValues } from '../lib/variables.ts';

const collector = 'instance=~"$collector"';
const exporter = 'exporter=~"$exporter"';
const exported = (metric: string) => rate(series(metric, collector, exporter));
const received = (metric: string) => rate(series(metric, collector));

const signals = [
  {
    signal: 'spans',
    sent: 'otelcol_exporter_sent_spans_total',
    failed: 'otelcol_exporter_send_failed_spans_total',
  },
  {
    signal: 'metric points',
    sent: 'otelcol_exporter_sent_metric_points_total',
    failed: 'otelcol_exporter_send_failed_metric_points_total',
  },
  {
    signal: 'log records',
    sent: 'otelcol_exporter_sent_log_records_total',
    failed: 'otelcol_exporter_send_failed_log_records_total',
  },
] as const;

/**
 * When exports fail, the traces that did arrive around that time and the gateway's own export
 * warnings (the OpenTelemetry SDK logs failed exports through the gateway's logger).
 */
const exportTrouble = drillDown({
  what: 'errors around this export failure',
  traces: '{ status = error }',
  logFilter: ' | level=~"error|warn" |~ "(?i)export|otlp|collector"',
});

export const otelPipeline = defineDashboard({
  entry: dashboardIndex.otelPipeline,
  description:
    'Collector exporters (sent and failed spans, metric points, log records), sending-queue fill, receiver accept/refuse, and backend ingest.',
  tags: ['traces', 'pipeline'],
  variables: [
    datasourceVariable('prometheus'),
    promLabelValues({
      name: 'collector',
      label: 'Collector',
      description: 'Collector instances (scrape targets of job otel-collector).',
      selector: 'up{job="otel-collector"}',
      labelName: 'instance',
    }),
    promLabelValues({
      name: 'exporter',
      label: 'Exporter',
      description:
        'Collector exporters (component ids) with a sending queue, i.e. the pushing ones (otlp_http/tempo, otlp_http/loki).',
      selector: 'otelcol_exporter_queue_capacity{instance=~"$collector"}',
      labelName: 'exporter',
    }),
  ],
  related: [dashboardIndex.tracesOverview, dashboardIndex.loggerHealth, dashboardIndex.containers],
  rows: [
    {
      title: 'Overview',
      panels: [
        ...signals.map(({ signal, failed }) =>
          stat({
            title: `Failed ${signal}`,
            description: `${signal} per second the exporters failed to send (retried while the queue holds them).`,
            unit: 'ops',
            width: 6,
            thresholds: [0.001],
            targets: [prom(sumBy([], exported(failed)), { instant: true })],
          }),
        ),
        stat({
          title: 'Fullest sending queue',
          description:
            'Highest queue size as a share of its capacity across exporters; at 100 % new data is dropped.',
          unit: 'percentunit',
          width: 6,
          thresholds: [0.5, 0.8],
          targets: [
            prom(
              `max(${series('otelcol_exporter_queue_size', collector, exporter)} / ${series('otelcol_exporter_queue_capacity', collector, exporter)})`,
              { instant: true },
            ),
          ],
        }),
      ],
    },
    {
      title: 'Exporters',
      panels: [
        ...signals.map(({ signal, sent, failed }) =>
          timeseries({
            title: `Exported ${signal}: sent and failed`,
            description: `${signal} per second each exporter sent, and those in failed send attempts.`,
            unit: 'ops',
            width: 8,
            links: exportTrouble,
            targets: [
              prom(sumBy(['exporter'], exported(sent)), { legend: '{{exporter}} sent' }),
              prom(sumBy(['exporter'], exported(failed)), { legend: '{{exporter}} failed' }),
            ],
          }),
        ),
        timeseries({
          title: 'Export failure ratio',
          description:
            'Failed divided by sent + failed, per exporter and signal (the OTLP-failure alert fires on sustained failures).',
          unit: 'percentunit',
          links: exportTrouble,
          targets: signals.map(({ signal, sent, failed }) =>
            prom(
              `${sumBy(['exporter'], exported(failed))} / (${sumBy(['exporter'], exported(sent))} + ${sumBy(['exporter'], exported(failed))})`,
              { legend: `{{exporter}} ${signal}` },
            ),
          ),
        }),
        timeseries({
          title: 'Sending queue fill',
          description:
            'Queue size as a share of capacity, per exporter: a queue that stays high is a backend that cannot keep up.',
          unit: 'percentunit',
          max: 1,
          thresholds: [0.5, 0.8],
          showThresholds: true,
          targets: [
            prom(
              `max by (exporter) (${series('otelcol_exporter_queue_size', collector, exporter)} / ${series('otelcol_exporter_queue_capacity', collector, exporter)})`,
              { legend: '{{exporter}}' },
            ),
          ],
        }),
        timeseries({
          title: 'Enqueue failures',
          description: 'Items per second refused by a full sending queue: data lost at the Collector.',
          unit: 'ops',
          width: 24,
          links: exportTrouble,
          targets: [
            prom(sumBy(['exporter'], exported('otelcol_exporter_enqueue_failed_spans_total')), {
              legend: '{{exporter}} spans',
            }),
            prom(sumBy(['exporter'], exported('otelcol_exporter_enqueue_failed_metric_points_total')), {
              legend: '{{exporter}} metric points',
            }),
            prom(sumBy(['exporter'], exported('otelcol_exporter_enqueue_failed_log_records_total')), {
              legend: '{{exporter}} log records',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Receivers and processors',
      panels: [
        timeseries({
          title: 'Received: accepted and refused',
          description:
            'Items per second the receivers pushed into the pipeline, and those they refused (back-pressure).',
          unit: 'ops',
          targets: [
            prom(sumBy(['receiver'], received('otelcol_receiver_accepted_spans_total')), {
              legend: '{{receiver}} spans accepted',
            }),
            prom(sumBy(['receiver'], received('otelcol_receiver_refused_spans_total')), {
              legend: '{{receiver}} spans refused',
            }),
            prom(sumBy(['receiver'], received('otelcol_receiver_accepted_metric_points_total')), {
              legend: '{{receiver}} metric points accepted',
            }),
            prom(sumBy(['receiver'], received('otelcol_receiver_refused_metric_points_total')), {
              legend: '{{receiver}} metric points refused',
            }),
            prom(sumBy(['receiver'], received('otelcol_receiver_accepted_log_records_total')), {
              legend: '{{receiver}} log records accepted',
            }),
            prom(sumBy(['receiver'], received('otelcol_receiver_refused_log_records_total')), {
              legend: '{{receiver}} log records refused',
            }),
          ],
        }),
        timeseries({
          title: 'Processor items in and out',
          description:
            'Items per second entering and leaving each processor; out below in means the processor dropped or filtered items.',
          unit: 'ops',
          targets: [
            prom(sumBy(['processor'], received('otelcol_processor_incoming_items_total')), {
              legend: '{{processor}} in',
            }),
            prom(sumBy(['processor'], received('otelcol_processor_outgoing_items_total')), {
              legend: '{{processor}} out',
            }),
          ],
        }),
      ],
    },
    {
      title: 'Backends',
      panels: [
        timeseries({
          title: 'Tempo: spans received',
          description: "Spans per second Tempo's distributor received.",
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], rate('tempo_distributor_spans_received_total')), { legend: 'spans' })],
        }),
        timeseries({
          title: 'Loki: lines received',
          description: "Log lines per second Loki's distributor received.",
          unit: 'ops',
          width: 8,
          targets: [prom(sumBy([], rate('loki_distributor_lines_received_total')), { legend: 'lines' })],
        }),
        timeseries({
          title: 'Prometheus: head series',
          description: "Series in Prometheus's head block: a jump after a deploy is a cardinality leak.",
          unit: 'short',
          width: 8,
          targets: [prom(sumBy([], 'prometheus_tsdb_head_series'), { legend: 'series' })],
        }),
      ],
    },
  ],
});
