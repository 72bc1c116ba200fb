import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type MockUpstream, type MockUpstreamOptions, startMockUpstream } from './server.ts';
import { delay, parseEventStream, send, sendJson } from './upstream-client.ts';

const chatRequests = {
  openai: {
    path: '/v1/chat/completions',
    body: { model: 'm', messages: [{ role: 'user', content: 'abcdefgh' }] },
  },
  anthropic: {
    path: '/v1/messages',
    body: { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'abcdefgh' }] },
  },
  gemini: {
    path: '/v1beta/models/m:generateContent',
    body: { contents: [{ parts: [{ text: 'abcdefgh' }] }] },
  },
} as const;

const streamRequests = {
  openai: { path: chatRequests.openai.path, body: { ...chatRequests.openai.body, stream: true } },
  anthropic: { path: chatRequests.anthropic.path, body: { ...chatRequests.anthropic.body, stream: true } },
  gemini: { path: '/v1beta/models/m:streamGenerateContent?alt=sse', body: chatRequests.gemini.body },
} as const;

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(5);
  }
}

async function withMock(
  options: MockUpstreamOptions,
  run: (mock: MockUpstream) => Promise<void>,
): Promise<void> {
  const mock = await startMockUpstream(options);
  try {
    await run(mock);
  } finally {
    await mock.close();
  }
}

describe('mock upstream: scripted failures (x-mock-scenario)', () => {
  let mock: MockUpstream;
  before(async () => {
    mock = await startMockUpstream({ streamChunks: 6 });
  });
  after(() => mock.close());

  const scenario = (value: string) => ({ 'x-mock-scenario': value });

  it('answers error-500, error-429 and error-400 in each provider error shape', async () => {
    const expected = {
      openai: {
        'error-500': {
          error: { message: /server had an error/, type: 'server_error', param: null, code: null },
        },
        'error-429': {
          error: { message: /Rate limit/, type: 'requests', param: null, code: 'rate_limit_exceeded' },
        },
        'error-400': {
          error: { message: /error-400/, type: 'invalid_request_error', param: null, code: null },
        },
      },
      anthropic: {
        'error-500': { type: 'error', error: { type: 'api_error', message: /Internal server error/ } },
        'error-429': { type: 'error', error: { type: 'rate_limit_error', message: /rate limit/ } },
        'error-400': { type: 'error', error: { type: 'invalid_request_error', message: /error-400/ } },
      },
      gemini: {
        'error-500': { error: { code: 500, message: /internal error/, status: 'INTERNAL' } },
        'error-429': { error: { code: 429, message: /exhausted/, status: 'RESOURCE_EXHAUSTED' } },
        'error-400': { error: { code: 400, message: /error-400/, status: 'INVALID_ARGUMENT' } },
      },
    } as const;
    for (const [family, shapes] of Object.entries(expected)) {
      const { path, body } = chatRequests[family as keyof typeof chatRequests];
      for (const [name, shape] of Object.entries(shapes)) {
        const response = await sendJson(mock.url, path, { body, headers: scenario(name) });
        assert.equal(response.status, Number(name.slice(-3)), `${family} ${name}`);
        assert.equal(response.headers['retry-after'], name === 'error-429' ? '1' : undefined);
        const inner = response.body['error'] as Record<string, unknown>;
        const expectedInner = shape.error as Record<string, unknown>;
        assert.deepEqual(
          Object.keys(inner).sort(),
          Object.keys(expectedInner).sort(),
          `${family} ${name} keys`,
        );
        for (const [key, value] of Object.entries(expectedInner)) {
          if (value instanceof RegExp) assert.match(String(inner[key]), value, `${family} ${name} ${key}`);
          else assert.equal(inner[key], value, `${family} ${name} ${key}`);
        }
        if (family === 'anthropic') {
          assert.equal(response.body['type'], 'error');
          assert.equal(response.body['request_id'], response.headers['request-id']);
        }
      }
    }
  });

  it('timeout never answers; the client giving up counts as an abort and frees the request', async () => {
    const before = mock.stats();
    const controller = new AbortController();
    const pending = send(mock.url, chatRequests.openai.path, {
      body: chatRequests.openai.body,
      headers: scenario('timeout'),
      signal: controller.signal,
    });
    await waitFor(() => mock.stats().open === before.open + 1, 'the request to be open');
    await delay(100);
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await waitFor(() => mock.stats().aborted === before.aborted + 1, 'the abort to be counted');
    assert.equal(mock.stats().open, before.open);
  });

  it('reset destroys the connection before answering: ECONNRESET, not counted as a client abort', async () => {
    const before = mock.stats();
    await assert.rejects(
      send(mock.url, chatRequests.anthropic.path, {
        body: chatRequests.anthropic.body,
        headers: scenario('reset'),
      }),
      {
        code: 'ECONNRESET',
      },
    );
    await waitFor(() => mock.stats().open === before.open, 'the request to close');
    assert.equal(mock.stats().aborted, before.aborted);
  });

  it('mid-stream-error sends some content, then the provider error event, and no normal end', async () => {
    const openai = await send(mock.url, streamRequests.openai.path, {
      body: streamRequests.openai.body,
      headers: scenario('mid-stream-error'),
    });
    const openaiData = parseEventStream(openai.text).map((event) => event.data);
    assert.equal(openai.status, 200);
    assert.equal(openaiData.length, 1 + 3 + 1, 'role chunk, half of the 6 content chunks, error');
    assert.ok(!openaiData.includes('[DONE]'));
    assert.deepEqual(JSON.parse(openaiData.at(-1) ?? ''), {
      error: {
        message: 'The server had an error while processing your request. Sorry about that!',
        type: 'server_error',
        param: null,
        code: null,
      },
    });

    const anthropic = await send(mock.url, streamRequests.anthropic.path, {
      body: streamRequests.anthropic.body,
      headers: scenario('mid-stream-error'),
    });
    const anthropicEvents = parseEventStream(anthropic.text);
    assert.deepEqual(
      anthropicEvents.map((event) => event.event),
      [
        'message_start',
        'content_block_start',
        'ping',
        'content_block_delta',
        'content_block_delta',
        'content_block_delta',
        'error',
      ],
    );
    assert.deepEqual(JSON.parse(anthropicEvents.at(-1)?.data ?? ''), {
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });

    const gemini = await send(mock.url, streamRequests.gemini.path, {
      body: streamRequests.gemini.body,
      headers: scenario('mid-stream-error'),
    });
    const geminiData = parseEventStream(gemini.text).map(
      (event) => JSON.parse(event.data) as Record<string, unknown>,
    );
    assert.equal(geminiData.length, 4);
    assert.ok(geminiData.slice(0, 3).every((chunk) => !JSON.stringify(chunk).includes('finishReason')));
    assert.deepEqual(Object.keys(geminiData[3] ?? {}), ['error']);
    assert.equal((geminiData[3]?.['error'] as { status?: string } | undefined)?.status, 'INTERNAL');
  });

  it('mid-stream-reset delivers some chunks, then resets the connection', async () => {
    const response = await send(mock.url, streamRequests.openai.path, {
      body: streamRequests.openai.body,
      headers: scenario('mid-stream-reset'),
    });
    assert.equal(response.status, 200);
    assert.equal(response.error?.code, 'ECONNRESET');
    const data = parseEventStream(response.text).map((event) => event.data);
    assert.ok(data.length >= 2, `received ${data.length} events before the reset`);
    assert.ok(!data.includes('[DONE]'));
  });

  it('on a unary request, the mid-stream scenarios send a truncated body and reset', async () => {
    const response = await send(mock.url, chatRequests.gemini.path, {
      body: chatRequests.gemini.body,
      headers: scenario('mid-stream-error'),
    });
    assert.equal(response.status, 200);
    assert.equal(response.error?.code, 'ECONNRESET');
    assert.ok(Number(response.headers['content-length']) > response.text.length);
  });

  it('rejects an unknown scenario or a malformed latency header with a 400', async () => {
    const unknown = await sendJson(mock.url, chatRequests.openai.path, {
      body: chatRequests.openai.body,
      headers: scenario('explode'),
    });
    assert.equal(unknown.status, 400);
    assert.match(
      String((unknown.body['error'] as Record<string, unknown>)['message']),
      /unknown x-mock-scenario "explode"/,
    );
    const badLatency = await sendJson(mock.url, chatRequests.openai.path, {
      body: chatRequests.openai.body,
      headers: { 'x-mock-latency-ms': 'soon' },
    });
    assert.equal(badLatency.status, 400);
  });
});

describe('mock upstream: seeded fault rates', () => {
  async function statuses(seed: number, count: number): Promise<number[]> {
    const seen: number[] = [];
    await withMock({ seed, errorRate: 0.3, rateLimitRate: 0.2 }, async (mock) => {
      for (let index = 0; index < count; index++) {
        seen.push(
          (await send(mock.url, chatRequests.openai.path, { body: chatRequests.openai.body })).status,
        );
      }
    });
    return seen;
  }

  it('repeats the same sequence for the same seed, at roughly the configured rates', async () => {
    const first = await statuses(42, 200);
    assert.deepEqual(await statuses(42, 200), first);
    assert.notDeepEqual(await statuses(7, 200), first);
    const count = (status: number) => first.filter((value) => value === status).length;
    assert.ok(count(500) > 30 && count(500) < 90, `500s: ${count(500)}`);
    assert.ok(count(429) > 15 && count(429) < 70, `429s: ${count(429)}`);
    assert.equal(count(200) + count(500) + count(429), 200);
  });

  it('applies the reset, timeout and mid-stream rates', async () => {
    await withMock({ seed: 1, resetRate: 1 }, async (mock) => {
      await assert.rejects(send(mock.url, '/v1/embeddings', { body: { model: 'e', input: 'x' } }), {
        code: 'ECONNRESET',
      });
    });
    await withMock({ seed: 1, timeoutRate: 1 }, async (mock) => {
      const outcome = await Promise.race([
        send(mock.url, chatRequests.openai.path, { body: chatRequests.openai.body }),
        delay(150).then(() => 'still waiting'),
      ]);
      assert.equal(outcome, 'still waiting');
    });
    await withMock({ seed: 1, midStreamErrorRate: 1, streamChunks: 4 }, async (mock) => {
      const unary = await send(mock.url, chatRequests.openai.path, { body: chatRequests.openai.body });
      assert.equal(unary.status, 200, 'mid-stream faults leave unary requests alone');
      assert.equal(unary.error, undefined);
      for (let index = 0; index < 10; index++) {
        const stream = await send(mock.url, streamRequests.anthropic.path, {
          body: streamRequests.anthropic.body,
        });
        const events = parseEventStream(stream.text).map((event) => event.event);
        assert.ok(!events.includes('message_stop'), `stream ${index} ended normally`);
        assert.ok(stream.error !== undefined || events.at(-1) === 'error');
      }
    });
  });

  it('refuses rates that add up to more than 1', async () => {
    await assert.rejects(startMockUpstream({ errorRate: 0.7, timeoutRate: 0.5 }), RangeError);
    await assert.rejects(startMockUpstream({ errorRate: 1.5 }), /errorRate must be between 0 and 1/);
  });
});

describe('mock upstream: timing and client aborts', () => {
  it('waits latencyMs before the headers, and x-mock-latency-ms overrides it', async () => {
    await withMock({ latencyMs: 120 }, async (mock) => {
      const slow = await send(mock.url, chatRequests.openai.path, { body: chatRequests.openai.body });
      assert.ok(slow.headersAfterMs >= 110, `headers after ${slow.headersAfterMs} ms`);
      const fast = await send(mock.url, chatRequests.openai.path, {
        body: chatRequests.openai.body,
        headers: { 'x-mock-latency-ms': '0' },
      });
      assert.equal(fast.status, 200);
      const slower = await send(mock.url, chatRequests.openai.path, {
        body: chatRequests.openai.body,
        headers: { 'x-mock-scenario': 'slow', 'x-mock-latency-ms': '100' },
      });
      assert.ok(slower.headersAfterMs >= 210, `slow adds to the latency: ${slower.headersAfterMs} ms`);
    });
  });

  it('honours time to first token and the chunk interval on streams', async () => {
    await withMock(
      { latencyMs: 40, timeToFirstTokenMs: 150, chunkIntervalMs: 40, streamChunks: 3 },
      async (mock) => {
        const response = await send(mock.url, streamRequests.anthropic.path, {
          body: streamRequests.anthropic.body,
        });
        assert.ok(response.headersAfterMs >= 35, `headers after ${response.headersAfterMs} ms`);
        const firstContent = response.chunkTimesMs.at(1) ?? 0;
        assert.ok(firstContent >= 140, `first content chunk after ${firstContent} ms`);
        const end = response.chunkTimesMs.at(-1) ?? 0;
        assert.ok(end >= 150 + 2 * 40 - 10, `stream ended after ${end} ms`);
        assert.ok(response.chunkTimesMs.length >= 4, 'preamble and content chunks arrive separately');
      },
    );
  });

  it('counts a client abort mid-stream and stops writing', async () => {
    await withMock({ chunkIntervalMs: 30, streamChunks: 50 }, async (mock) => {
      const pendingTimers = () =>
        process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
      const timersBefore = pendingTimers();
      const controller = new AbortController();
      const reading = send(mock.url, streamRequests.openai.path, {
        body: streamRequests.openai.body,
        signal: controller.signal,
      });
      await waitFor(() => mock.stats().open === 1, 'the stream to start');
      await delay(100);
      controller.abort();
      await reading.catch(() => undefined);
      await waitFor(() => mock.stats().aborted === 1, 'the abort to be counted');
      assert.deepEqual(
        { ...mock.stats(), connections: 0 },
        { requests: 1, open: 0, aborted: 1, connections: 0 },
      );
      // The next chunk's timer is cleared: nothing stays scheduled to write to the dead socket.
      assert.equal(pendingTimers(), timersBefore);
    });
  });

  it('records the last request headers and body for propagation checks, ignoring health checks', async () => {
    await withMock({}, async (mock) => {
      assert.deepEqual(mock.lastRequestHeaders(), {});
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await send(mock.url, chatRequests.anthropic.path, {
        body: chatRequests.anthropic.body,
        headers: { traceparent, 'x-api-key': 'sk-ant-test', authorization: 'Bearer upstream-key' },
      });
      await send(mock.url, '/healthz');
      assert.equal(mock.lastRequestHeaders()['traceparent'], traceparent);
      assert.equal(mock.lastRequestHeaders()['authorization'], 'Bearer upstream-key');
      assert.equal(mock.lastRequestHeaders()['x-api-key'], 'sk-ant-test');
      const recorded = mock.lastRequest();
      assert.equal(recorded?.method, 'POST');
      assert.equal(recorded?.url, '/v1/messages');
      assert.deepEqual(JSON.parse(recorded?.bodyText ?? ''), chatRequests.anthropic.body);
      assert.equal(mock.stats().requests, 2);
    });
  });
});
