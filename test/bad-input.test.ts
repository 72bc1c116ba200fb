/**
 * Bad input gets its documented status and code, never a 500, and the process keeps serving.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { uuidV7Time } from '../src/http/request-id.ts';
import { keys, postJson, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

describe('bad input', () => {
  let harness: TestGateway;
  let chatUrl: string;
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const hello = { model: 'chat', messages: [{ role: 'user', content: 'hi' }] };

  before(async () => {
    harness = await startTestGateway({ env: { ODOCK_MAX_BODY_BYTES: '4096' } });
    chatUrl = `${harness.url}/v1/chat/completions`;
  });
  after(() => harness.close());

  const cases: Array<{
    name: string;
    send: () => ReturnType<typeof postJson>;
    status: number;
    code: string;
  }> = [
    {
      name: 'malformed JSON',
      send: () => postJson(chatUrl, '{"model": "chat",'),
      status: 400,
      code: 'invalid_request_body',
    },
    {
      name: 'JSON that is not an object',
      send: () => postJson(chatUrl, '[1,2]'),
      status: 400,
      code: 'invalid_request_body',
    },
    { name: 'empty body', send: () => postJson(chatUrl, ''), status: 400, code: 'invalid_request_body' },
    {
      name: 'model of the wrong type',
      send: () => postJson(chatUrl, { model: 42, messages: [] }),
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'messages missing',
      send: () => postJson(chatUrl, { model: 'chat' }),
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'stream not a boolean',
      send: () => postJson(chatUrl, { ...hello, stream: 'yes' }),
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'unknown model',
      send: () => postJson(chatUrl, { ...hello, model: 'gpt-99' }),
      status: 400,
      code: 'model_not_found',
    },
    {
      name: 'model not granted',
      send: () => postJson(chatUrl, { ...hello, model: 'gemini' }, bearer(keys.otherOrganization)),
      status: 403,
      code: 'model_not_allowed',
    },
    {
      name: 'embeddings model on chat',
      send: () => postJson(chatUrl, { ...hello, model: 'embed' }),
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'other family on a native endpoint',
      send: () => postJson(chatUrl, { ...hello, model: 'claude' }),
      status: 400,
      code: 'provider_not_allowed',
    },
    {
      name: 'provider credential unset',
      send: () => postJson(chatUrl, { ...hello, model: 'needs-key' }, bearer(keys.all)),
      status: 400,
      code: 'provider_api_key_not_configured',
    },
    {
      name: 'provider disabled',
      send: () => postJson(chatUrl, { ...hello, model: 'switched-off' }, bearer(keys.all)),
      status: 403,
      code: 'provider_disabled',
    },
    {
      name: 'oversized body',
      send: () => postJson(chatUrl, { ...hello, padding: 'x'.repeat(10_000) }),
      status: 413,
      code: 'request_too_large',
    },
    { name: 'missing key', send: () => postJson(chatUrl, hello, {}), status: 401, code: 'unauthorized' },
    {
      name: 'unknown key',
      send: () => postJson(chatUrl, hello, bearer('sk-odock-nope')),
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'malformed authorization header',
      send: () => postJson(chatUrl, hello, { authorization: 'Basic abc' }),
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'expired key',
      send: () => postJson(chatUrl, hello, bearer(keys.expired)),
      status: 401,
      code: 'api_key_expired',
    },
    {
      name: 'revoked key',
      send: () => postJson(chatUrl, hello, bearer(keys.revoked)),
      status: 401,
      code: 'api_key_revoked',
    },
    {
      name: 'unknown route',
      send: () => postJson(`${harness.url}/v1/nope`, hello),
      status: 404,
      code: 'route_not_found',
    },
    {
      name: 'wrong method',
      send: () => postJson(`${harness.url}/v1/models`, hello),
      status: 405,
      code: 'method_not_allowed',
    },
    {
      name: 'anthropic body without max_tokens',
      send: () =>
        postJson(`${harness.url}/v1/messages`, {
          model: 'claude',
          messages: [{ role: 'user', content: 'x' }],
        }),
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'unified body with a bad role',
      send: () =>
        postJson(`${harness.url}/v1/llm/chat`, {
          model: 'chat',
          messages: [{ role: 'wizard', content: 'x' }],
        }),
      status: 400,
      code: 'invalid_request',
    },
  ];

  for (const testCase of cases) {
    test(`${testCase.name} → ${testCase.status} ${testCase.code}`, async () => {
      const response = await testCase.send();
      assert.equal(response.status, testCase.status, response.text);
      assert.equal(response.json?.error?.code, testCase.code, response.text);
      assert.equal(typeof response.json.error.message, 'string');
      assert.ok(response.headers.get('x-request-id'));
      assert.doesNotMatch(response.text, /at .*\.ts:\d+|Error:/, 'no stack trace or internal message');
    });
  }

  test('a chunked body over the limit is refused while it is read', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const call = request(chatUrl, {
        method: 'POST',
        headers: { ...bearer(keys.demo), 'content-type': 'application/json' },
      });
      call.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      call.on('error', reject);
      call.write(`{"model":"chat","messages":[],"x":"${'y'.repeat(8_000)}`);
      call.end('"}');
    });
    assert.equal(status, 413);
  });

  test('a well-formed caller request id is kept, a malformed one replaced', async () => {
    const kept = await postJson(chatUrl, hello, { ...bearer(keys.demo), 'x-request-id': 'caller-id.42' });
    assert.equal(kept.headers.get('x-request-id'), 'caller-id.42');
    const replaced = await postJson(chatUrl, hello, {
      ...bearer(keys.demo),
      'x-request-id': 'bad id with spaces',
    });
    // A UUIDv7 of this moment: time-ordered, so the usage table's request id index is appended to.
    const made = replaced.headers.get('x-request-id') ?? '';
    assert.match(made, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(Math.abs(uuidV7Time(made) - Date.now()) < 60_000, made);
  });

  test('after all of that the process still serves', async () => {
    const health = await fetch(`${harness.url}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${harness.url}/readyz`);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { database: 'ok', cache: 'ok' } });
    const ok = await postJson(chatUrl, hello);
    assert.equal(ok.status, 200, ok.text);
  });
});
