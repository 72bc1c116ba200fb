/**
 * How the dashboards find log lines in Loki: the contract with the log shipper's configuration
 * (`observability/alloy/config.alloy`, or the Promtail profile). The shipper labels every
 * container's stream with its Compose `service`, `compose_project` and `container`, and for the
 * gateway promotes the bounded fields `service_name` (the line's `service.name`), `level`,
 * `route`, `endpoint`, `provider` and `model` to stream labels, while `request_id`, `trace_id`,
 * `span_id` and `organization_id` become structured metadata. Queries select the stream by
 * `service_name`, filter labels and structured metadata with label filters
 * (`| request_id="..."`), and reach the other JSON fields (`plugin_name`, `decision`, ...)
 * through `| json`.
 */
import { logFields, resourceLogFields } from '../../../../src/observability/catalog.ts';

/** `OBSERVABILITY_SERVICE_NAME`'s default (telemetry contract, section 2). */
export const gatewayServiceName = 'odock-server';

/** Stream labels the shipper attaches; queries may select or group on these and the log fields. */
export const streamLabels = [
  'service',
  'compose_project',
  'container',
  'service_name',
  'level',
  'route',
  'endpoint',
  'provider',
  'model',
] as const;

/**
 * Label names a LogQL query may filter or group on: stream labels, the contract's correlation
 * fields, the resource identity as `| json` flattens it (`service.name` becomes `service_name`),
 * and the `level` pino writes.
 */
export const queryableLogLabels: readonly string[] = [
  ...streamLabels,
  ...logFields,
  ...resourceLogFields.map((field) => field.replaceAll('.', '_')),
];

/** The gateway's log stream, for a dashboard with a `service` variable. */
export const gatewayStream = '{service_name=~"$service"}';

/** The gateway's log stream without variables, for Explore links that leave the dashboard. */
export const gatewayStreamFixed = `{service_name="${gatewayServiceName}"}`;
