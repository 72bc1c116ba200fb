/**
 * SIGTERM during load loses no usage record. The real process (`odock-server serve`) runs on
 * PostgreSQL with a flush interval longer than the load, so records are still queued when the
 * signal arrives: the shutdown must drain the requests, then write every queued record, then
 * exit 0. Every response a client received has exactly one record afterwards.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import { keys } from './helpers/gateway-harness.ts';
import { startServeProcess } from './helpers/serve-process.ts';
import { usageConfigYaml, usageEnv } from './usage-helpers.ts';

describe('SIGTERM under load', () => {
  let directory: string;
  let mock: MockUpstream;
  let admin: pg.Client;
  const schema = randomSchemaName();

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'odock-usage-shutdown-'));
    mock = await startMockUpstream({ chunkIntervalMs: 30, streamChunks: 10 });
    admin = new pg.Client({ connectionString: await postgresTestUrl() });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  });
  after(async () => {
    await mock.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    await rm(directory, { recursive: true, force: true });
  });

  test('every response a client received has exactly one record after the process exits', async () => {
    const configPath = join(directory, 'odock.yaml');
    await writeFile(configPath, usageConfigYaml(mock.url));
    const databaseUrl = `${await postgresTestUrl()}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const { child, url, output } = await startServeProcess({
      ...usageEnv,
      ODOCK_CONFIG: configPath,
      DATABASE_URL: databaseUrl,
      ODOCK_SHUTDOWN_TIMEOUT_MS: '20000',
      // Nothing is written before SIGTERM unless a batch fills: the drain has work to do.
      ODOCK_USAGE_FLUSH_INTERVAL_MS: '60000',
      ODOCK_USAGE_BATCH_SIZE: '10000',
    });
    const exited = once(child, 'exit');

    const seen: string[] = [];
    let stopped = false;
    let failures = 0;
    const worker = async (index: number) => {
      for (let round = 0; !stopped; round += 1) {
        try {
          const response = await fetch(`${url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${keys.demo}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'chat',
              stream: (index + round) % 2 === 0,
              messages: [{ role: 'user', content: `load ${index} ${round}` }],
            }),
          });
          const requestId = response.headers.get('x-request-id');
          await response.text();
          if (requestId !== null) seen.push(requestId);
          // 503 service_unavailable is a response too (and has its record); anything else is a failure.
          if (response.status !== 200 && response.status !== 503) failures += 1;
        } catch {
          // The listener is closed: this worker's traffic is over.
          return;
        }
      }
    };
    const workers = Array.from({ length: 12 }, (_, index) => worker(index));
    // Under load for a while (however slow the machine), then the signal.
    const loadStarted = performance.now();
    while (seen.length < 60 && performance.now() - loadStarted < 60_000)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const seenBeforeSignal = seen.length;
    child.kill('SIGTERM');
    const [code] = await exited;
    stopped = true;
    await Promise.all(workers);

    assert.equal(code, 0, output());
    assert.equal(failures, 0);
    assert.ok(seenBeforeSignal >= 60, `load before the signal: ${seenBeforeSignal} responses`);
    const drained = output()
      .split('\n')
      .filter((line) => line.includes('usage records drained'))
      .map((line) => JSON.parse(line) as { written: number });
    assert.equal(drained.length, 1, output());
    assert.ok(drained[0]!.written >= seenBeforeSignal, 'the drain wrote the queued records');
    assert.doesNotMatch(output(), /usage records lost/);

    const { rows } = await admin.query(`SELECT request_id FROM ${schema}.usage_records`);
    const stored = rows.map((row: { request_id: string }) => row.request_id).sort();
    assert.deepEqual(stored, [...seen].sort(), 'one record per response, none missing, none extra');
  });
});
