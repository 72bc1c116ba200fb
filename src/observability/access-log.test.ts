import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ResolvedModel } from '../config/load.ts';
import type { RequestContext } from '../gateway/request-context.ts';
import { chatCompletionsContext } from '../gateway/request-context-fixture.ts';
import { writeAccessLog } from './access-log.ts';
import { createLogger } from './logger.ts';
import type { Span } from './spans.ts';

const resource = {
  'service.name': 'odock-server',
  'service.instance.id': 'pid-42',
  'deployment.environment.name': 'production',
};

function capture(level = 'info') {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    resource,
    destination: { write: (line: string) => lines.push(line) },
  });
  return { logger, lines };
}

const spanWithId = (spanId: string) => ({ spanContext: () => ({ spanId }) }) as unknown as Span;

function context(edit: (context: RequestContext) => void): RequestContext {
  const created = chatCompletionsContext('c8a2a904-237c-4e39-a73d-476fce7b2478');
  const context = { ...created, startedAt: 1_000 };
  edit(context);
  return context;
}

/**
 * The reference: the fields object the contract's line is made of, in its order, written by
 * pino's own serialiser. The access log must produce the same text.
 */
function referenceLine(context: RequestContext, durationMs: number): string {
  const { outcome } = context;
  const fields: Record<string, unknown> = { request_id: context.requestId };
  if (context.traceId !== undefined) {
    fields.trace_id = context.traceId;
    fields.span_id = context.span?.spanContext().spanId;
  }
  fields.route = context.route;
  fields.endpoint = context.endpoint;
  fields.status = outcome.status;
  fields.duration_ms = durationMs;
  if (context.principal !== undefined) fields.organization_id = context.principal.organizationId;
  if (context.model !== undefined) {
    fields.provider = context.model.provider.name;
    fields.model = context.model.name;
  }
  if (outcome.stream) {
    fields.stream = true;
    fields.stream_outcome = outcome.streamOutcome;
  }
  if (outcome.errorCode !== undefined) fields.error_code = outcome.errorCode;
  if (outcome.attempts.length > 0) fields.attempts = outcome.attempts.length;
  const { logger, lines } = capture();
  if (outcome.status >= 500) logger.warn(fields, 'request failed');
  else logger.info(fields, 'request completed');
  assert.equal(lines.length, 1);
  return lines[0]!;
}

const model = (name: string, provider: string) => ({ name, provider: { name: provider } }) as ResolvedModel;
const principal = (organizationId: string) => ({
  apiKeyId: 'key-1',
  organizationId,
  teamId: null,
  userId: null,
  models: new Set(['*']),
});
const attempt = (outcome: 'success' | 'error') => ({
  provider: 'mock',
  model: 'chat',
  startedAt: 1_000,
  durationMs: 5,
  status: outcome === 'success' ? 200 : 502,
  outcome,
  errorCode: undefined,
});

/** A request whose root span has ids, with a caller and a model. */
function tracedAndRouted(c: RequestContext): void {
  c.traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  c.span = spanWithId('00f067aa0ba902b7');
  c.principal = principal('demo');
  c.model = model('chat', 'mock-openai');
}

const cases: Array<[string, RequestContext]> = [
  [
    'a traced success',
    context((c) => {
      tracedAndRouted(c);
      c.outcome.status = 200;
      c.outcome.attempts.push(attempt('success'));
    }),
  ],
  [
    'a refused key, untraced',
    context((c) => {
      c.outcome.status = 401;
      c.outcome.errorCode = 'unauthorized';
    }),
  ],
  [
    'a completed stream',
    context((c) => {
      c.principal = principal('demo');
      c.model = model('chat', 'mock-openai');
      c.outcome.status = 200;
      c.outcome.stream = true;
      c.outcome.streamOutcome = 'completed';
      c.outcome.attempts.push(attempt('success'));
    }),
  ],
  [
    'a stream with no outcome yet',
    context((c) => {
      c.outcome.status = 200;
      c.outcome.stream = true;
    }),
  ],
  [
    'a failure after two attempts (warn)',
    context((c) => {
      tracedAndRouted(c);
      c.outcome.status = 502;
      c.outcome.errorCode = 'upstream_error';
      c.outcome.attempts.push(attempt('error'), attempt('error'));
    }),
  ],
  [
    'values that need escaping',
    context((c) => {
      Object.assign(c, { requestId: 'client-"id"\\with\u0001control' });
      c.principal = principal('организация "quoted"');
      c.model = model('chat\ttab', 'provider\\back');
      c.outcome.status = 200;
    }),
  ],
];

describe('the access log', () => {
  for (const [name, requestContext] of cases)
    test(`writes what pino would write: ${name}`, (t) => {
      t.mock.method(Date, 'now', () => Date.UTC(2026, 10, 25, 20, 4, 8, 7));
      t.mock.method(performance, 'now', () => 1_012.345_6);
      const { logger, lines } = capture();
      writeAccessLog(logger, requestContext);
      assert.equal(lines.length, 1);
      assert.equal(lines[0], referenceLine(requestContext, 12.346));
      // And the line is one JSON object.
      assert.equal(JSON.parse(lines[0]!).duration_ms, 12.346);
    });

  test('follows the logger level: warn keeps failures only, silent writes nothing', () => {
    const [, success] = cases[0]!;
    const [, failure] = cases[4]!;
    const warn = capture('warn');
    writeAccessLog(warn.logger, success);
    writeAccessLog(warn.logger, failure);
    assert.equal(warn.lines.length, 1);
    assert.match(warn.lines[0]!, /"level":"warn".*"message":"request failed"/);
    const silent = capture('silent');
    writeAccessLog(silent.logger, failure);
    assert.equal(silent.lines.length, 0);
    // A level changed at run time is honoured.
    silent.logger.level = 'info';
    writeAccessLog(silent.logger, success);
    assert.equal(silent.lines.length, 1);
  });
});
