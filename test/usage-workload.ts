/**
 * A mixed workload through a real gateway, on the embedded database (PGlite) and on a real
 * PostgreSQL (usage-records-pglite.test.ts, usage-records-postgres.test.ts): unary, streaming, embeddings, Anthropic messages, the unified endpoint, errors of
 * several codes at several stages, a mid-stream failure and client aborts. Proves one record per
 * request, every field right for each case, the request id equal to the `X-Request-Id` the client
 * saw, and the trace id equal to the id of the trace exported for that request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { RequestContext } from '../src/gateway/request-context.ts';
import type { PluginStage } from '../src/gateway/stages.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import type { UsageRow } from '../src/usage/usage-view.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';
import { type OtlpReceiver, startOtlpReceiver } from './helpers/otlp-receiver.ts';
import { type Json, usageConfigYaml, usageEnv, waitForRecords } from './usage-helpers.ts';

/** Prices of the test models, in nano-USD per million tokens (0.15 / 0.6 / 0.02 USD). */
const price = { input: 150_000_000n, output: 600_000_000n, embeddings: 20_000_000n };
const costOf = (input: number, output: number) =>
  (BigInt(input) * price.input + BigInt(output) * price.output + 500_000n) / 1_000_000n;

/** A stand-in plugin stage, so the metadata and plugin overhead of a record have something to show. */
const taggingPlugin: PluginStage = {
  async beforeProvider(context: RequestContext) {
    context.stageOutcomes.plugins.push({
      name: 'tagger',
      stage: 'before_provider',
      decision: 'allow',
      durationMs: 2.5,
    });
  },
  async afterProvider() {},
};

interface Case {
  name: string;
  requestId: string;
  elapsedMs?: number;
  check: (record: UsageRow) => void;
}

function sseData(text: string): Json[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data:') && !line.includes('[DONE]'))
    .map((line) => JSON.parse(line.slice(5)));
}

/**
 * Registers the suite for one backend. Each backend runs in its own test file, so its own
 * process: the gateway's span helpers keep the tracer of the first OpenTelemetry SDK installed
 * in a process, so a second gateway started in the same process would export no spans.
 */
export function describeMixedWorkload(backend: 'pglite' | 'postgres'): void {
  describe(`usage records of a mixed workload on ${backend}`, () => {
    let harness: TestGateway;
    let receiver: OtlpReceiver;
    let schema: string | undefined;

    before(async () => {
      receiver = await startOtlpReceiver();
      const env: Record<string, string> = {
        ...usageEnv,
        OBSERVABILITY_OTEL_EXPORTER: 'otlphttp',
        OBSERVABILITY_OTEL_ENDPOINT: receiver.url,
        OBSERVABILITY_SAMPLE_RATE: '1',
        ODOCK_USAGE_FLUSH_INTERVAL_MS: '50',
      };
      if (backend === 'postgres') {
        schema = randomSchemaName();
        env.DATABASE_URL = await postgresTestUrl();
      }
      harness = await startTestGateway({
        configYaml: usageConfigYaml,
        env,
        mock: { chunkIntervalMs: 20, streamChunks: 20 },
        stages: { plugins: taggingPlugin },
        ...(schema === undefined ? {} : { databaseSchema: schema }),
      });
    });
    after(async () => {
      await harness?.close();
      await receiver?.close();
      if (schema !== undefined) {
        const client = new pg.Client({ connectionString: await postgresTestUrl() });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
    });

    test('one record per request, every field right, joined to the client request id and the trace', async () => {
      const cases: Case[] = [];
      const demo = { authorization: `Bearer ${keys.demo}` };
      const all = { authorization: `Bearer ${keys.all}` };
      const timed = async <T>(work: () => Promise<T>) => {
        const started = performance.now();
        const result = await work();
        return { result, elapsedMs: performance.now() - started };
      };
      const chat = (model: string, headers: Record<string, string>, extra: Record<string, unknown> = {}) =>
        postJson(
          `${harness.url}/v1/chat/completions`,
          { model, messages: [{ role: 'user', content: 'usage records' }], ...extra },
          headers,
        );
      const common = (record: UsageRow) => {
        assert.ok(record.latency_ms > 0);
        assert.ok(Math.abs(record.requested_at.getTime() - Date.now()) < 60_000);
        if (record.upstream_ms === null) assert.equal(record.gateway_overhead_ms, null);
        else {
          assert.ok(record.upstream_ms <= record.latency_ms);
          assert.ok(Math.abs(record.gateway_overhead_ms! - (record.latency_ms - record.upstream_ms)) < 1e-6);
        }
      };
      const calledModel = (record: UsageRow) => {
        assert.deepEqual(record.metadata, {
          plugins: [{ name: 'tagger', stage: 'before_provider', decision: 'allow', duration_ms: 2.5 }],
          safety: [],
          rate_limits: [],
        });
        assert.equal(record.plugin_overhead_ms, 2.5);
      };

      // 1. Unary chat, with the caller's own request id.
      const clientId = `client-chosen-${backend}-1`;
      const unary = await timed(() => chat('chat', { ...demo, 'x-request-id': clientId }));
      assert.equal(unary.result.status, 200, unary.result.text);
      assert.equal(unary.result.headers.get('x-request-id'), clientId);
      const unaryBody = unary.result.json;
      cases.push({
        name: 'unary chat',
        requestId: clientId,
        elapsedMs: unary.elapsedMs,
        check: (record) => {
          assert.equal(record.organization_id, 'demo');
          assert.equal(record.team_id, 'demo-team');
          assert.equal(record.user_id, null);
          assert.equal(record.api_key_id, 'demo-key');
          assert.equal(record.provider, 'mock-openai');
          assert.equal(record.model, 'chat');
          assert.equal(record.requested_model, 'chat');
          assert.equal(record.response_model, unaryBody.model);
          assert.equal(record.endpoint, 'chat_completions');
          assert.equal(record.route, '/v1/chat/completions');
          assert.equal(record.stream, false);
          assert.equal(record.stream_outcome, null);
          assert.equal(record.status, 200);
          assert.equal(record.outcome, 'success');
          assert.equal(record.error_code, null);
          assert.equal(record.time_to_first_token_ms, null);
          assert.equal(record.input_tokens, unaryBody.usage.prompt_tokens);
          assert.equal(record.output_tokens, unaryBody.usage.completion_tokens);
          assert.ok(record.input_tokens > 0 && record.output_tokens > 0);
          assert.equal(record.billable_tokens, record.input_tokens + record.output_tokens);
          assert.equal(record.embeddings_tokens, 0);
          assert.equal(record.tool_tokens, null);
          assert.equal(record.cost_nanos, costOf(record.input_tokens, record.output_tokens));
          // OpenAI's own request id is its `x-request-id` response header (the mock sends one).
          assert.match(record.provider_request_id ?? '', /^req_[0-9a-f]+$/);
          assert.deepEqual(record.provider_usage, unaryBody.usage);
          assert.equal(record.attempts.length, 1);
          assert.deepEqual(
            { ...(record.attempts[0] as Json), started_after_ms: 0, duration_ms: 0 },
            {
              provider: 'mock-openai',
              model: 'chat',
              started_after_ms: 0,
              duration_ms: 0,
              status: 200,
              outcome: 'success',
              error_code: null,
            },
          );
          assert.ok(record.upstream_ms !== null);
          calledModel(record);
        },
      });

      // 2. Streaming chat, asking for the usage chunk so the client sees the counts.
      const stream = await timed(() =>
        chat('chat', demo, { stream: true, stream_options: { include_usage: true } }),
      );
      assert.equal(stream.result.status, 200);
      const streamUsage = sseData(stream.result.text).find((chunk) => chunk.usage)?.usage;
      const contentChunks = sseData(stream.result.text).filter(
        (chunk) => chunk.choices?.[0]?.delta?.content,
      ).length;
      assert.ok(contentChunks >= 2, stream.result.text);
      assert.ok(streamUsage, stream.result.text);
      cases.push({
        name: 'streaming chat',
        requestId: stream.result.headers.get('x-request-id')!,
        elapsedMs: stream.elapsedMs,
        check: (record) => {
          assert.equal(record.stream, true);
          assert.equal(record.stream_outcome, 'completed');
          assert.equal(record.outcome, 'success');
          assert.equal(record.status, 200);
          assert.ok(record.time_to_first_token_ms !== null && record.time_to_first_token_ms > 0);
          assert.ok(record.time_to_first_token_ms < record.latency_ms);
          assert.equal(record.input_tokens, streamUsage.prompt_tokens);
          assert.equal(record.output_tokens, streamUsage.completion_tokens);
          assert.equal(record.cost_nanos, costOf(record.input_tokens, record.output_tokens));
          // The mock paces content chunks 20 ms apart: the upstream time covers the whole stream.
          assert.ok(record.upstream_ms! >= (contentChunks - 1) * 20 * 0.9, `${record.upstream_ms} ms`);
          calledModel(record);
        },
      });

      // 3. Embeddings.
      const embed = await postJson(
        `${harness.url}/v1/embeddings`,
        { model: 'embed', input: 'count me' },
        demo,
      );
      assert.equal(embed.status, 200, embed.text);
      cases.push({
        name: 'embeddings',
        requestId: embed.headers.get('x-request-id')!,
        check: (record) => {
          assert.equal(record.endpoint, 'embeddings');
          assert.equal(record.model, 'embed');
          assert.equal(record.embeddings_tokens, embed.json.usage.prompt_tokens);
          assert.ok(record.embeddings_tokens > 0);
          assert.equal(record.billable_tokens, record.embeddings_tokens);
          assert.equal(
            record.cost_nanos,
            (BigInt(record.embeddings_tokens) * price.embeddings + 500_000n) / 1_000_000n,
          );
          calledModel(record);
        },
      });

      // 4. Anthropic Messages with the Anthropic SDK's header.
      const messages = await postJson(
        `${harness.url}/v1/messages`,
        { model: 'claude', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] },
        { 'x-api-key': keys.demo },
      );
      assert.equal(messages.status, 200, messages.text);
      cases.push({
        name: 'anthropic messages',
        requestId: messages.headers.get('x-request-id')!,
        check: (record) => {
          assert.equal(record.endpoint, 'messages');
          assert.equal(record.provider, 'mock-anthropic');
          assert.equal(record.input_tokens, messages.json.usage.input_tokens);
          assert.equal(record.output_tokens, messages.json.usage.output_tokens);
          assert.equal(record.api_key_id, 'demo-key');
        },
      });

      // 5. The unified endpoint streaming from Gemini, with a key of no team.
      const unified = await postJson(
        `${harness.url}/v1/llm/chat`,
        { model: 'gemini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
        all,
      );
      assert.equal(unified.status, 200);
      cases.push({
        name: 'unified streaming gemini',
        requestId: unified.headers.get('x-request-id')!,
        check: (record) => {
          assert.equal(record.endpoint, 'llm_chat');
          assert.equal(record.provider, 'mock-gemini');
          assert.equal(record.api_key_id, 'all-key');
          assert.equal(record.team_id, null);
          assert.equal(record.stream_outcome, 'completed');
          assert.ok(record.output_tokens > 0);
        },
      });

      // 6-13. Errors at every stage.
      const errorCase = (
        name: string,
        response: { status: number; headers: Headers; json: Json },
        expected: Partial<UsageRow>,
        extra?: (record: UsageRow) => void,
      ) => {
        assert.equal(response.status, expected.status, `${name}: ${JSON.stringify(response.json)}`);
        cases.push({
          name,
          requestId: response.headers.get('x-request-id')!,
          check: (record) => {
            for (const [field, value] of Object.entries(expected))
              assert.deepEqual(record[field as keyof UsageRow], value, `${name}: ${field}`);
            assert.equal(record.cost_nanos, 0n);
            extra?.(record);
          },
        });
      };
      errorCase(
        'unknown key',
        await chat('chat', { authorization: 'Bearer sk-odock-not-a-key' }),
        {
          status: 401,
          error_code: 'unauthorized',
          outcome: 'client_error',
          organization_id: null,
          api_key_id: null,
          model: null,
          upstream_ms: null,
          gateway_overhead_ms: null,
        },
        (record) => assert.deepEqual(record.attempts, []),
      );
      errorCase('unknown model', await chat('no-such-model', demo), {
        status: 400,
        error_code: 'model_not_found',
        outcome: 'client_error',
        organization_id: 'demo',
        requested_model: 'no-such-model',
        model: null,
        provider: null,
      });
      errorCase('model not granted', await chat('gemini', demo), {
        status: 403,
        error_code: 'model_not_allowed',
        organization_id: 'demo',
        requested_model: 'gemini',
        model: null,
      });
      errorCase(
        'upstream 500',
        await chat('fails-500', all),
        { status: 502, error_code: 'upstream_error', outcome: 'server_error', provider: 'broken-500' },
        (record) => {
          assert.equal((record.attempts[0] as Json).status, 500);
          assert.equal((record.attempts[0] as Json).outcome, 'error');
          assert.equal((record.attempts[0] as Json).error_code, 'upstream_error');
          assert.equal(record.input_tokens + record.output_tokens, 0);
        },
      );
      errorCase('upstream 429', await chat('fails-429', all), {
        status: 429,
        error_code: 'upstream_rate_limited',
        outcome: 'client_error',
      });
      errorCase(
        'upstream timeout',
        await chat('times-out', all),
        { status: 504, error_code: 'upstream_timeout', outcome: 'server_error' },
        (record) => assert.equal((record.attempts[0] as Json).outcome, 'timeout'),
      );
      errorCase('mid-stream failure', await chat('midstream', all, { stream: true }), {
        status: 200,
        error_code: 'upstream_error',
        stream: true,
        stream_outcome: 'upstream_error',
        outcome: 'server_error',
      });
      const notFound = await fetch(`${harness.url}/v1/no-such-route`, { headers: demo });
      errorCase(
        'unknown route',
        { status: notFound.status, headers: notFound.headers, json: await notFound.json() },
        {
          status: 404,
          error_code: 'route_not_found',
          endpoint: 'other',
          route: 'unmatched',
          organization_id: null,
        },
      );

      // 14. A client that goes away in the middle of a stream.
      const streamAbort = new AbortController();
      const aborted = await fetch(`${harness.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...demo, 'content-type': 'application/json' },
        // A reply long enough for all 20 paced chunks (400 ms), so the abort lands mid-stream even on a loaded machine.
        body: JSON.stringify({
          model: 'chat',
          stream: true,
          messages: [{ role: 'user', content: 'bye '.repeat(40) }],
        }),
        signal: streamAbort.signal,
      });
      await aborted.body!.getReader().read();
      streamAbort.abort();
      cases.push({
        name: 'client abort mid-stream',
        requestId: aborted.headers.get('x-request-id')!,
        check: (record) => {
          assert.equal(record.stream_outcome, 'client_aborted');
          assert.equal(record.outcome, 'client_aborted');
          assert.equal(record.status, 200);
          assert.equal(record.error_code, null);
        },
      });

      // 15. A client that gives up before a slow unary answer: no response, so the id is its own.
      const unaryAbortId = `client-abort-${backend}`;
      const unaryAbort = new AbortController();
      const pending = fetch(`${harness.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...all, 'content-type': 'application/json', 'x-request-id': unaryAbortId },
        body: JSON.stringify({ model: 'slow-chat', messages: [{ role: 'user', content: 'too slow' }] }),
        signal: unaryAbort.signal,
      });
      await delay(200);
      unaryAbort.abort();
      await assert.rejects(pending);
      cases.push({
        name: 'client abort before the answer',
        requestId: unaryAbortId,
        check: (record) => {
          assert.equal(record.status, 499);
          assert.equal(record.outcome, 'client_aborted');
          assert.equal(record.model, 'slow-chat');
          assert.equal((record.attempts[0] as Json).outcome, 'aborted');
        },
      });

      // 16. Not a model call: the model list.
      const models = await fetch(`${harness.url}/v1/models`, { headers: demo });
      assert.equal(models.status, 200);
      cases.push({
        name: 'model list',
        requestId: models.headers.get('x-request-id')!,
        check: (record) => {
          assert.equal(record.endpoint, 'models');
          assert.equal(record.outcome, 'success');
          assert.equal(record.provider, null);
          assert.equal(record.organization_id, 'demo');
        },
      });

      // 17. Another organisation.
      const other = await chat('chat', { authorization: `Bearer ${keys.otherOrganization}` });
      assert.equal(other.status, 200);
      cases.push({
        name: 'other organisation',
        requestId: other.headers.get('x-request-id')!,
        check: (record) => {
          assert.equal(record.organization_id, 'other');
          assert.equal(record.api_key_id, 'other-key');
        },
      });

      // Probes are not gateway calls: no record.
      assert.equal((await fetch(`${harness.url}/healthz`)).status, 200);

      await waitForRecords(harness.gateway, cases.length, null);
      await delay(300); // a record that should not exist (a duplicate, the probe) would arrive now
      await harness.gateway.usage.collector.flush();
      const rows = await harness.gateway.usage.api.database.query<UsageRow>('SELECT * FROM usage_records');
      assert.equal(rows.length, cases.length, 'exactly one record per request, none for the probe');
      const byRequestId = new Map(rows.map((row) => [row.request_id, row]));
      assert.equal(byRequestId.size, cases.length, 'request ids are distinct');
      for (const entry of cases) {
        const record = byRequestId.get(entry.requestId);
        assert.ok(record, `${entry.name}: no record for ${entry.requestId}`);
        common(record);
        if (entry.elapsedMs !== undefined) assert.ok(record.latency_ms <= entry.elapsedMs + 1, entry.name);
        entry.check(record);
      }

      // The trace id of each record is the id of the trace exported for its request, and the
      // collector's own span sits in that trace under the request's root span.
      for (let waited = 0; waited < 5_000; waited += 100) {
        await harness.gateway.telemetry.flush();
        const roots = receiver.spans.filter((span) => span.name === 'http.request');
        if (
          cases.every((entry) =>
            roots.some((span) => span.attributes['gateway.request_id'] === entry.requestId),
          )
        )
          break;
        await delay(100);
      }
      for (const entry of cases) {
        const record = byRequestId.get(entry.requestId)!;
        const root = receiver.spans.find(
          (span) => span.name === 'http.request' && span.attributes['gateway.request_id'] === entry.requestId,
        );
        assert.ok(
          root,
          `${entry.name}: no exported http.request span; ${receiver.spans.length} spans, roots: ${receiver.spans
            .filter((span) => span.name === 'http.request')
            .map((span) => span.attributes['gateway.request_id'])
            .join(' ')}`,
        );
        assert.match(record.trace_id ?? '', /^[0-9a-f]{32}$/);
        assert.equal(record.trace_id, root.traceId, `${entry.name}: trace id`);
        const collect = receiver.spans.find(
          (span) =>
            span.name === 'gateway.usage.collect' &&
            span.attributes['gateway.request_id'] === entry.requestId,
        );
        assert.ok(collect, `${entry.name}: no gateway.usage.collect span`);
        assert.equal(collect.traceId, root.traceId);
        assert.equal(collect.parentSpanId, root.spanId);
        assert.ok(
          receiver.spans.some(
            (span) => span.name === 'gateway.publish.usage' && span.parentSpanId === collect.spanId,
          ),
        );
      }
    });
  });
}
