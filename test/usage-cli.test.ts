/**
 * `odock-server usage export` and `usage tail` as an operator runs them, against a real
 * PostgreSQL schema filled with records: the export writes every record of the range (CSV or
 * JSON Lines, to stdout or a file) with its progress on stderr; tail prints records as they
 * reach the store, one readable line each.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Database } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrate.ts';
import { openPostgresDatabase } from '../src/storage/postgres-database.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import { progressReporter } from '../src/usage/usage-cli.ts';
import { sampleRecord } from '../src/usage/usage-test-records.ts';
import { insertUsageRecords } from '../src/usage/usage-writer.ts';

const run = promisify(execFile);
const cli = new URL('../src/cli.ts', import.meta.url).pathname;

describe('usage CLI', () => {
  const schema = randomSchemaName();
  let database: Database;
  let directory: string;
  let env: NodeJS.ProcessEnv;
  const start = new Date('2026-02-01T00:00:00Z');
  const demo = Array.from({ length: 2_500 }, (_, index) =>
    sampleRecord({ organizationId: 'demo', requestedAt: new Date(start.getTime() + index * 1_000) }),
  );
  const other = Array.from({ length: 300 }, (_, index) =>
    sampleRecord({ organizationId: 'other', requestedAt: new Date(start.getTime() + index * 1_000 + 500) }),
  );

  before(async () => {
    database = await openPostgresDatabase({ connectionString: await postgresTestUrl(), schema });
    await migrate(database);
    await insertUsageRecords(database, [...demo, ...other]);
    directory = await mkdtemp(join(tmpdir(), 'odock-usage-cli-'));
    env = {
      ...process.env,
      DATABASE_URL: `${await postgresTestUrl()}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    };
  });
  after(async () => {
    await database.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await database.close();
    await rm(directory, { recursive: true, force: true });
  });

  test('export --format csv writes the range of one organisation, progress on stderr', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        cli,
        'usage',
        'export',
        '--from',
        '2026-02-01T00:00:00Z',
        '--to',
        '2026-02-02T00:00:00Z',
        '--format',
        'csv',
        '--org',
        'demo',
      ],
      { env, maxBuffer: 64 * 1024 * 1024 },
    );
    const [header, ...lines] = stdout.trimEnd().split('\r\n');
    assert.match(header!, /^id,request_id,trace_id,timestamp,organization_id,/);
    assert.equal(lines.length, demo.length);
    assert.deepEqual(
      lines.map((line) => line.split(',')[0]),
      demo.map((record) => record.id),
      'every record once, in time order',
    );
    assert.match(
      stderr,
      /exported 2500 usage records \(2026-02-01T00:00:00.000Z to 2026-02-02T00:00:00.000Z\)/,
    );
  });

  test('export --format jsonl --output writes every organisation to a file', async () => {
    const file = join(directory, 'usage.jsonl');
    const { stdout, stderr } = await run(
      process.execPath,
      [cli, 'usage', 'export', '--from', '2026-02-01', '--format', 'jsonl', '--output', file],
      { env },
    );
    assert.equal(stdout, '');
    const records = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(records.length, demo.length + other.length);
    assert.ok(records.every((record) => record.object === 'usage.record' && Array.isArray(record.attempts)));
    assert.match(stderr, /exported 2800 usage records/);
  });

  test('export refuses bad arguments with a message, not a stack', async () => {
    await assert.rejects(
      run(process.execPath, [cli, 'usage', 'export', '--format', 'xml'], { env }),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, /--from is required/);
        assert.match(error.stderr, /--format: one of csv, jsonl/);
        assert.doesNotMatch(error.stderr, /at .*\.ts:/);
        return true;
      },
    );
    await assert.rejects(
      run(process.execPath, [cli, 'usage', 'export', '--from', '2026-02-01', '--status-class', '9xx'], {
        env,
      }),
      /status_class must be one of/,
    );
  });

  test('the progress indicator rewrites one line on a terminal and ends with a summary', () => {
    const written: string[] = [];
    const reporter = progressReporter(
      Object.assign(
        {
          write(chunk: string) {
            written.push(chunk);
            return true;
          },
        } as unknown as NodeJS.WritableStream,
        { isTTY: true },
      ),
    );
    reporter.update({ records: 1_000, reached: new Date('2026-02-01T06:00:00Z'), fraction: 0.25 });
    reporter.update({ records: 2_000, reached: new Date('2026-02-01T12:00:00Z'), fraction: 0.5 });
    reporter.done('exported 2000 usage records');
    assert.deepEqual(written, [
      '\r\x1b[2Kexporting: 1000 records, 25.0% of the range, at 2026-02-01T06:00:00.000Z',
      '\r\x1b[2Kexporting: 2000 records, 50.0% of the range, at 2026-02-01T12:00:00.000Z',
      '\r\x1b[2Kexported 2000 usage records\n',
    ]);
  });

  test('tail prints records as they reach the store, one readable line each', async () => {
    await insertUsageRecords(database, [sampleRecord({ requestId: 'tail-before-start' })]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const child = spawn(
      process.execPath,
      [cli, 'usage', 'tail', '--since', '0s', '--interval-ms', '100', '--max', '3', '--org', 'demo'],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const exited = once(child, 'exit');
    // Records stored before the tail started are not shown (--since 0s): wait until it follows.
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        if (stderr.includes('following usage records of demo')) resolve();
      });
      child.once('exit', () => reject(new Error(`tail exited: ${stderr}`)));
    });
    const fresh = [
      sampleRecord({ requestId: 'tail-1', costNanos: 21_000n, traceId: '0af7651916cd43dd8448eb211c80319c' }),
      sampleRecord({ requestId: 'tail-other-org', organizationId: 'other' }),
      sampleRecord({
        requestId: 'tail-2',
        status: 502,
        outcome: 'server_error',
        errorCode: 'upstream_error',
      }),
      sampleRecord({
        requestId: 'tail-3',
        stream: true,
        streamOutcome: 'client_aborted',
        outcome: 'client_aborted',
      }),
    ];
    for (const record of fresh) await insertUsageRecords(database, [record]);
    const timer = setTimeout(() => child.kill('SIGINT'), 15_000);
    const [code] = await exited;
    clearTimeout(timer);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 3, stdout);
    assert.match(
      lines[0]!,
      /200 {2}success .*chat_completions .*mock-openai\/chat {2}demo\/demo-key {2}12\.5ms/,
    );
    assert.match(
      lines[0]!,
      /tokens=10→20 {2}\$0\.000021 {2}request_id=tail-1 {2}trace_id=0af7651916cd43dd8448eb211c80319c/,
    );
    assert.match(lines[1]!, /502 {2}upstream_error .*request_id=tail-2/);
    assert.match(lines[2]!, /stream:client_aborted .*request_id=tail-3/);
    assert.doesNotMatch(stdout, /tail-other-org/);
    assert.doesNotMatch(stdout, /tail-before-start/, '--since 0s: nothing stored before the tail started');
    assert.doesNotMatch(
      stdout,
      new RegExp(demo[0]!.requestId),
      'records from before the tail started are not shown',
    );
  });
});
