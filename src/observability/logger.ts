/**
 * Structured JSON logs on stdout (telemetry contract section 5). Correlation fields use the
 * contract's names (`request_id`, `organization_id`, `provider`, `model`, `route`, ...).
 * Credentials and bodies are never passed to the logger; the redaction list is a second line
 * of defence for header objects that might be logged by mistake.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  serviceName?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { 'service.name': options.serviceName ?? 'odock-server' },
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
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
