/**
 * The logger's redaction (telemetry contract section 5): credential headers are censored
 * wherever a header object could sit in a line, and the access log's own fields pass as they are.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, isoTimeAt, redactedPaths } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines };
}

const secret = 'PLANTEDLOGGERSECRET';
const headers = () => ({
  authorization: `Bearer ${secret}`,
  'x-api-key': secret,
  'x-goog-api-key': secret,
  'content-type': 'application/json',
});

describe('logger timestamp', () => {
  test('is pino isoTime, character for character', () => {
    const instants = [
      0, 1, 9, 10, 99, 100, 999, 1_000, 59_999, 86_399_999, 951_782_400_000, 1_764_079_199_999,
      1_764_079_200_000, 1_764_079_200_007, 1_764_079_200_042, 1_764_079_200_420, 253_402_300_799_999,
      253_402_300_800_000, -1, -86_400_001,
    ];
    for (let index = 0; index < 5_000; index += 1)
      instants.push(Math.floor(Math.random() * 4_102_444_800_000));
    // Out of order, so the per-second cache is exercised both ways.
    for (const now of [...instants, ...instants.reverse()])
      assert.equal(isoTimeAt(now), `,"time":"${new Date(now).toISOString()}"`, String(now));
  });

  test('every line carries it', () => {
    const { logger, lines } = capture();
    const before = Date.now();
    logger.info('hello');
    const time = Date.parse((JSON.parse(lines[0]!) as { time: string }).time);
    assert.ok(time >= before && time <= Date.now());
  });
});

describe('logger redaction', () => {
  test('no path is a wildcard', () => {
    for (const path of redactedPaths) assert.doesNotMatch(path, /\*/, path);
  });

  for (const holder of [undefined, 'err', 'error', 'req', 'request', 'res', 'response'] as const) {
    test(`credential headers are censored ${holder === undefined ? 'at the top level' : `under ${holder}`}`, () => {
      const { logger, lines } = capture();
      const fields = holder === undefined ? { headers: headers() } : { [holder]: { headers: headers() } };
      logger.info(fields, 'with headers');
      assert.equal(lines.length, 1);
      assert.doesNotMatch(lines[0]!, new RegExp(secret));
      const line = JSON.parse(lines[0]!) as Record<string, Record<string, Record<string, string>>>;
      const logged =
        holder === undefined ? line.headers! : (line[holder]!.headers as unknown as Record<string, string>);
      assert.equal(logged.authorization, '[redacted]');
      assert.equal(logged['x-api-key'], '[redacted]');
      assert.equal(logged['x-goog-api-key'], '[redacted]');
      assert.equal(logged['content-type'], 'application/json', 'other headers are kept');
    });
  }

  test('an error carrying request headers is censored', () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error('upstream refused'), { headers: headers() });
    logger.error({ request_id: 'r1', err: error }, 'failed');
    assert.doesNotMatch(lines[0]!, new RegExp(secret));
    assert.match(lines[0]!, /"message":"failed"/);
  });

  test('an access log line is written field for field', () => {
    const { logger, lines } = capture();
    const fields = {
      request_id: 'req-1',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      route: '/v1/chat/completions',
      endpoint: 'chat_completions',
      status: 200,
      duration_ms: 1.25,
      organization_id: 'demo',
      provider: 'mock-openai',
      model: 'chat',
      stream: true,
      stream_outcome: 'completed',
      attempts: 1,
    };
    logger.info(fields, 'request completed');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const [key, value] of Object.entries(fields)) assert.deepEqual(line[key], value, key);
    assert.equal(line.message, 'request completed');
    assert.equal(line.level, 'info');
    assert.equal(line['service.name'], 'odock-server');
  });
});
