/** The official `@anthropic-ai/sdk` client as a real caller of `POST /v1/messages`. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { keys, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

describe('Anthropic SDK against the gateway', () => {
  let harness: TestGateway;
  let client: Anthropic;

  before(async () => {
    harness = await startTestGateway();
    client = new Anthropic({ apiKey: keys.demo, baseURL: harness.url, maxRetries: 0 });
  });
  after(() => harness.close());

  test('unary message', async () => {
    const { data, response } = await client.messages
      .create({ model: 'claude', max_tokens: 64, messages: [{ role: 'user', content: 'Hello, Claude' }] })
      .withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    const text = data.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    assert.match(text, /Hello, Claude/);
    assert.equal(data.stop_reason, 'end_turn');
    assert.ok(data.usage.input_tokens > 0);
    assert.equal(response.headers.get('request-id'), response.headers.get('x-request-id'));
  });

  test('streaming events, raw and through the stream helper', async () => {
    const stream = await client.messages.create({
      model: 'claude',
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: 'Stream, Claude' }],
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('content_block_delta'));

    const helper = client.messages.stream({
      model: 'claude',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'helper, Claude' }],
    });
    let streamed = '';
    helper.on('text', (delta) => {
      streamed += delta;
    });
    const message = await helper.finalMessage();
    const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    assert.match(text, /helper, Claude/);
    assert.equal(streamed, text);
    assert.ok(message.usage.output_tokens > 0);
  });

  test('errors raise the typed SDK error with status and request id', async () => {
    await assert.rejects(
      client.messages.create({ model: 'chat', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.equal(error.status, 400);
        assert.match(error.requestID ?? '', /^[0-9a-f-]{36}$/);
        assert.equal((error.error as { error: { code: string } }).error.code, 'provider_not_allowed');
        return true;
      },
    );
    const revoked = new Anthropic({ apiKey: keys.revoked, baseURL: harness.url, maxRetries: 0 });
    await assert.rejects(
      revoked.messages.create({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => error instanceof Anthropic.AuthenticationError && error.status === 401,
    );
  });
});
