/**
 * Structured JSON logs (telemetry contract section 5): one object per line, the resource
 * identity on every line, correlation fields under the contract's names (`request_id`,
 * `trace_id`, `organization_id`, ...). Bodies, keys and credentials are never passed to the
 * logger; the redaction list is a second line of defence for header objects.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Resource attributes; `service.name`, `service.instance.id`, `deployment.environment.name` go on every line. */
  resource?: Readonly<Record<string, string>>;
  destination?: DestinationStream | { write(line: string): void };
}

export function createLogger(options: LoggerOptions): Logger {
  const resource = options.resource ?? { 'service.name': 'odock-server' };
  const base: Record<string, string> = {};
  for (const key of ['service.name', 'service.instance.id', 'deployment.environment.name'])
    if (resource[key] !== undefined) base[key] = resource[key];
  return pino(
    {
      level: options.level,
      base,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'headers.authorization',
          'headers["x-api-key"]',
          'headers["x-goog-api-key"]',
          '*.headers.authorization',
          '*.headers["x-api-key"]',
          '*.headers["x-goog-api-key"]',
        ],
        censor: '[redacted]',
      },
    },
    (options.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }),
  );
}
