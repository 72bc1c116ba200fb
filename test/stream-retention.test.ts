/**
 * What the gateway keeps of a request while its answer streams: a stream can last minutes and a
 * gateway holds thousands, so the client's prompt must be collectable as soon as the provider
 * has accepted the call. Checked with a weak reference to the parsed messages and a full
 * garbage collection while a slow stream is still open (`--expose-gc` is set for this file's
 * own process: node --test runs every file in a process of its own).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { keys, startTestGateway, type TestGateway } from './helpers/gateway-harness.ts';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('what an open stream keeps', () => {
  let harness: TestGateway;
  /** The messages of each request as the request-side plugin stage saw them, weakly held. */
  const seen: Array<WeakRef<object>> = [];

  before(async () => {
    harness = await startTestGateway({
      // 40 chunks 50 ms apart: the stream stays open for about 2 s.
      mock: { chunkIntervalMs: 50, streamChunks: 40 },
      stages: {
        plugins: {
          beforeProvider: (_context, body) => {
            seen.push(new WeakRef(body.messages as object));
          },
          afterProvider: () => {},
        },
      },
    });
  });
  after(() => harness.close());

  /** Opens a stream, waits for its first bytes, and reports whether the prompt is still alive. */
  async function promptAliveWhileStreaming(path: string, body: Record<string, unknown>) {
    const response = await fetch(`${harness.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.all}` },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    const reference = seen.at(-1)!;
    // Let the turn that started the stream finish, then collect everything collectable.
    await delay(50);
    collectGarbage();
    await delay(0);
    collectGarbage();
    const alive = reference.deref() !== undefined;
    for (let part = await reader.read(); !part.done; part = await reader.read())
      text += decoder.decode(part.value, { stream: true });
    return { alive, text };
  }

  const prompt = 'a long prompt '.repeat(2_000);

  for (const [endpoint, path, model] of [
    ['native', '/v1/chat/completions', 'chat'],
    ['unified', '/v1/llm/chat', 'claude'],
  ] as const)
    test(`the ${endpoint} endpoint lets the prompt go once the provider answered`, async () => {
      const { alive, text } = await promptAliveWhileStreaming(path, {
        model,
        stream: true,
        messages: [{ role: 'user', content: prompt }],
      });
      assert.equal(alive, false, 'the parsed messages were still reachable while the stream was open');
      assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the stream completed');
    });
});
