/**
 * Structured JSON logs (telemetry contract section 5): one object per line, the resource
 * identity on every line, correlation fields under the contract's names (`request_id`,
 * `trace_id`, `organization_id`, ...). Bodies, keys and credentials are never passed to the
 * logger; the redaction list (exact paths, see `redactedPaths`) is a second line of defence for
 * header objects.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Resource attributes; `service.name`, `service.instance.id`, `deployment.environment.name` go on every line. */
  resource?: Readonly<Record<string, string>>;
  destination?: DestinationStream | { write(line: string): void };
}

/**
 * The credential headers of the contract (section 5) wherever a header object could appear in
 * a line: at the top level, and under a request, response or error field. Exact paths only: a
 * wildcard (`*.headers.authorization`) makes pino's redaction walk every field of every line,
 * the access log's included, where an exact path costs a line nothing unless it has that
 * top-level field. No code logs header objects; this is the second line of defence.
 */
export const redactedPaths = [
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  'err.headers.authorization',
  'err.headers["x-api-key"]',
  'err.headers["x-goog-api-key"]',
  'error.headers.authorization',
  'error.headers["x-api-key"]',
  'error.headers["x-goog-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'request.headers.authorization',
  'request.headers["x-api-key"]',
  'request.headers["x-goog-api-key"]',
  'res.headers.authorization',
  'res.headers["x-api-key"]',
  'res.headers["x-goog-api-key"]',
  'response.headers.authorization',
  'response.headers["x-api-key"]',
  'response.headers["x-goog-api-key"]',
];

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * pino's `isoTime` (`,"time":"<Date.toISOString()>"`), character for character, without a Date
 * and its formatting per line: the text up to the seconds is formatted once per second.
 */
export function isoTimeAt(now: number): string {
  if (!(Number.isInteger(now) && now >= 0 && now < 253_402_300_800_000))
    return `,"time":"${new Date(now).toISOString()}"`;
  const milliseconds = now % 1000;
  const second = now - milliseconds;
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
  }
  return `${cachedPrefix}${milliseconds < 10 ? '00' : milliseconds < 100 ? '0' : ''}${milliseconds}Z"`;
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
      timestamp: () => isoTimeAt(Date.now()),
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: redactedPaths,
        censor: '[redacted]',
      },
    },
    (options.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }),
  );
}
