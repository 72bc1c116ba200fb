/**
 * Request Logs: every log line of one request and the way to its trace, steps 3 and 4 of the
 * correlation chain (telemetry contract, section 6). The request id is the `X-Request-Id` a
 * client received, also the usage record's request id; Loki holds it as structured metadata
 * `request_id`, Tempo as the span attribute `gateway.request_id`.
 */
import { defineDashboard } from '../lib/dashboard.ts';
import { dashboardIndex } from '../lib/dashboard-index.ts';
import { exploreLink, logsLink, tracesLink } from '../lib/links.ts';
import { gatewayServiceName, gatewayStream, gatewayStreamFixed } from '../lib/log-streams.ts';
import { logs, stat, text, traceSearch } from '../lib/panels.ts';
import { logql, traceql } from '../lib/targets.ts';
import { spanAttribute } from '../lib/traceql.ts';
import { datasourceVariable, lokiLabelValues, textVariable } from '../lib/variables.ts';

/** `request_id!=""` first: an empty variable must not match every line that lacks the field. */
const requestLines = `${gatewayStream} | request_id!="" | request_id="$request_id"`;
const requestTrace = `{ ${spanAttribute('requestId')} = "$request_id" }`;

export const requestLogs = defineDashboard({
  entry: dashboardIndex.requestLogs,
  description:
    'All log lines of one request (by X-Request-Id) and a link to its trace. Paste the id from the response header or the usage record.',
  tags: ['logs'],
  timeFrom: 'now-24h',
  variables: [
    datasourceVariable('loki'),
    datasourceVariable('tempo'),
    textVariable({
      name: 'request_id',
      label: 'Request id',
      description: "The X-Request-Id of the request (also the usage record's request id).",
      defaultValue: '',
    }),
    lokiLabelValues({
      name: 'service',
      label: 'Service (Loki)',
      description: "The service_name stream label of the gateway's log lines.",
      labelName: 'service_name',
      current: gatewayServiceName,
    }),
  ],
  related: [dashboardIndex.logsExplore, dashboardIndex.tracesOverview, dashboardIndex.gatewayRequests],
  extraLinks: [
    exploreLink(
      "This request's trace in Explore",
      tracesLink(
        'Open the trace of this request id in Tempo',
        `{ ${spanAttribute('requestId')} = "\${request_id}" }`,
      ),
    ),
    exploreLink(
      "This request's logs in Explore",
      logsLink(
        'Open the log lines of this request id in Loki',
        `${gatewayStreamFixed} | request_id!="" | request_id="\${request_id}"`,
      ),
    ),
  ],
  rows: [
    {
      title: 'Request',
      panels: [
        text({
          title: 'How to use',
          description: 'Where a request id comes from and what this dashboard shows.',
          width: 16,
          height: 5,
          markdown: [
            'Paste a request id in **Request id** (top): the `X-Request-Id` response header, or the request id of a usage record.',
            "The logs below are that request's lines; a line's `trace_id` opens the trace. The trace table lists the",
            "request's trace when it was sampled (`OBSERVABILITY_SAMPLE_RATE`); the usage record stores the trace id either way.",
          ].join('\n'),
        }),
        stat({
          title: 'Lines for this request',
          description: 'Log lines carrying this request id in the time range.',
          unit: 'short',
          width: 4,
          height: 5,
          decimals: 0,
          targets: [logql(`sum(count_over_time(${requestLines} [$__range]))`, { instant: true })],
        }),
        stat({
          title: 'Warnings and errors',
          description: 'Lines at warn level or above for this request.',
          unit: 'short',
          width: 4,
          height: 5,
          decimals: 0,
          thresholds: [1],
          targets: [
            logql(`sum(count_over_time(${requestLines} | level=~"warn|error|fatal" [$__range]))`, {
              instant: true,
            }),
          ],
        }),
      ],
    },
    {
      title: 'Log lines and trace',
      panels: [
        logs({
          title: 'Log lines of this request',
          description:
            'Every gateway log line whose structured metadata request_id is the chosen id, newest first.',
          targets: [logql(requestLines, { maxLines: 1000 })],
        }),
        traceSearch({
          title: 'Trace of this request',
          description:
            'The trace whose spans carry gateway.request_id = the chosen id; click the trace id to open it.',
          width: 24,
          height: 6,
          targets: [traceql(requestTrace)],
        }),
      ],
    },
  ],
});
