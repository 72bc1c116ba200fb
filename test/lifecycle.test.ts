/**
 * The real process: `odock-server serve` answers on its embedded defaults, and SIGTERM stops
 * accepting, lets an in-flight stream finish, closes the stores and exits 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.ts';
import { keys, testConfigYaml, testEnv } from './helpers/gateway-harness.ts';
import { startServeProcess } from './helpers/serve-process.ts';

describe('process lifecycle', () => {
  let directory: string;
  let mock: MockUpstream;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'odock-lifecycle-'));
    mock = await startMockUpstream({ chunkIntervalMs: 50, streamChunks: 30 });
  });
  after(async () => {
    await mock.close();
    await rm(directory, { recursive: true, force: true });
  });

  test('the shipped example config serves the demo key on embedded defaults', async () => {
    const { child, url } = await startServeProcess({
      ODOCK_DATA_DIR: join(directory, 'demo-data'),
      ODOCK_CONFIG: '',
    });
    try {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-odock-demo', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo-echo', messages: [{ role: 'user', content: 'Hello, gateway' }] }),
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
      assert.match(body.choices[0]!.message.content, /Hello, gateway/);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  test('SIGTERM drains an in-flight stream, then exits 0', async () => {
    const configPath = join(directory, 'odock.yaml');
    await writeFile(configPath, testConfigYaml(mock.url));
    const { child, url, output } = await startServeProcess({
      ...testEnv,
      ODOCK_CONFIG: configPath,
      ODOCK_DATA_DIR: join(directory, 'data'),
      ODOCK_SHUTDOWN_TIMEOUT_MS: '20000',
    });
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.demo}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'chat',
        stream: true,
        messages: [{ role: 'user', content: 'drain me' }],
      }),
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    assert.match(text, /data: \[DONE\]/, 'the in-flight stream finished normally');
    const [code] = await exited;
    assert.equal(code, 0, output());
    assert.match(output(), /odock-server stopped/);
    await assert.rejects(fetch(`${url}/healthz`), 'no longer accepting connections');
  });
});
