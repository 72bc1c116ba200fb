/**
 * Usage pipeline benchmark: the real UsageCollector writing real batches to PostgreSQL and to
 * the embedded PGlite, in two phases per database.
 *
 * - saturation: records are offered far faster than any store takes them (the queue is large
 *   enough to hold them all), so what is written per second is the sustained write throughput
 *   of batched inserts;
 * - steady: records arrive at a fixed rate (open loop, like requests finishing), and the flush
 *   delay of each one (from `record()` to the end of the INSERT that stored it) is measured.
 *
 *   node bench/usage-throughput.ts --help
 *
 * PostgreSQL comes from ODOCK_TEST_DATABASE_URL or the local test server (a throw-away schema).
 * When that server runs on this machine, each PostgreSQL phase also reports the CPU its backends
 * spent per row written (from /proc): the database's share of a usage record.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { uuidV7 } from '../src/http/request-id.ts';
import type { Database } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrate.ts';
import { openPgliteDatabase } from '../src/storage/pglite-database.ts';
import { openPostgresDatabase, postgresApplicationName } from '../src/storage/postgres-database.ts';
import { postgresTestUrl, randomSchemaName } from '../src/storage/test-databases.ts';
import { UsageCollector } from '../src/usage/usage-collector.ts';
import { maintainUsagePartitions } from '../src/usage/usage-partitions.ts';
import type { UsageRecord } from '../src/usage/usage-record.ts';
import { sampleRecord } from '../src/usage/usage-test-records.ts';
import { nearestRank } from './load-result.ts';
import { processStat } from './machine.ts';
import { toolArgs } from './tool-args.ts';

const usage = `
node bench/usage-throughput.ts [--database postgres|pglite|both] [--seconds 10]
     [--rate 2000] [--batch-size 500] [--flush-interval-ms 200] [--output FILE]
     [--drop-index NAME ...]  (an index of usage_records dropped after the migration, to
                               measure what keeping it costs each row written; repeatable)
`;

interface PhaseResult {
  phase: 'saturation' | 'steady';
  offered: number;
  offeredPerSecond: number;
  written: number;
  writtenPerSecond: number;
  lost: number;
  batches: number;
  meanBatchSize: number;
  writeMs: { p50: number; p99: number; max: number };
  flushDelayMs: { p50: number; p95: number; p99: number; max: number };
  /** CPU of the PostgreSQL backends per row written, when the server is local; else null. */
  serverCpuUsPerRow: number | null;
}

/**
 * CPU seconds used so far by each backend serving the collector's pool, or undefined when they
 * are not processes of this machine (a remote server, or PGlite inside this process).
 */
async function backendCpuSeconds(database: Database): Promise<Map<number, number> | undefined> {
  if (database.kind !== 'postgres') return undefined;
  const backends = await database.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
    [postgresApplicationName],
  );
  const seconds = new Map<number, number>();
  for (const { pid } of backends) {
    const stat = await processStat(pid).catch(() => undefined);
    if (stat?.command !== 'postgres') return undefined;
    seconds.set(pid, stat.cpuSeconds);
  }
  return seconds;
}

const round = (value: number) => Math.round(value * 10) / 10;

async function runPhase(
  database: Database,
  phase: PhaseResult['phase'],
  options: { seconds: number; rate: number; batchSize: number; flushIntervalMs: number },
): Promise<PhaseResult> {
  const delays: number[] = [];
  const writes: number[] = [];
  let written = 0;
  const collector = new UsageCollector({
    database,
    logger: pino({ level: 'warn' }),
    queueCapacity: phase === 'saturation' ? 5_000_000 : 100_000,
    batchSize: options.batchSize,
    flushIntervalMs: options.flushIntervalMs,
    onFlush: (report) => {
      written += report.records;
      writes.push(report.writeMs);
      for (const delay of report.delaysMs) delays.push(delay);
    },
  });
  const durationMs = options.seconds * 1_000;
  const cpuBefore = await backendCpuSeconds(database);
  const started = performance.now();
  let offered = 0;
  let lost = 0;
  if (phase === 'saturation') {
    // Keep the queue ahead of the writer for the whole phase, without starving its event loop.
    while (performance.now() - started < durationMs) {
      while (collector.depth < options.batchSize * 20) {
        if (!collector.enqueue(trafficRecord())) lost += 1;
        offered += 1;
      }
      await nextTurn();
    }
  } else {
    // Open loop: records due by now are offered whatever the writer is doing (1 ms ticks).
    while (performance.now() - started < durationMs) {
      const due = Math.floor(((performance.now() - started) / 1_000) * options.rate);
      for (; offered < due; offered += 1) if (!collector.enqueue(trafficRecord())) lost += 1;
      await sleep(1);
    }
  }
  const writtenInWindow = written;
  const elapsedSeconds = (performance.now() - started) / 1_000;
  const drained = await collector.drain(60_000);
  lost += drained.lost;
  // A backend the pool opened during the phase counts from zero; one it closed is missed (the
  // collector writes one batch at a time, so it keeps using the same connection).
  const cpuAfter = cpuBefore === undefined ? undefined : await backendCpuSeconds(database);
  let serverCpuSeconds: number | undefined;
  if (cpuAfter !== undefined)
    serverCpuSeconds = [...cpuAfter].reduce(
      (sum, [pid, seconds]) => sum + seconds - (cpuBefore?.get(pid) ?? 0),
      0,
    );
  delays.sort((a, b) => a - b);
  writes.sort((a, b) => a - b);
  return {
    phase,
    offered,
    offeredPerSecond: round(offered / elapsedSeconds),
    written: written,
    // Saturation: what the store took during the window (the drain afterwards is not counted).
    writtenPerSecond: round((phase === 'saturation' ? writtenInWindow : written) / elapsedSeconds),
    lost,
    batches: writes.length,
    meanBatchSize: round(written / Math.max(1, writes.length)),
    writeMs: {
      p50: round(nearestRank(writes, 0.5)),
      p99: round(nearestRank(writes, 0.99)),
      max: round(writes.at(-1) ?? 0),
    },
    flushDelayMs: {
      p50: round(nearestRank(delays, 0.5)),
      p95: round(nearestRank(delays, 0.95)),
      p99: round(nearestRank(delays, 0.99)),
      max: round(delays.at(-1) ?? 0),
    },
    serverCpuUsPerRow:
      serverCpuSeconds === undefined || written === 0 ? null : round((serverCpuSeconds * 1e6) / written),
  };
}

async function openTarget(
  kind: 'postgres' | 'pglite',
): Promise<{ database: Database; dispose: () => Promise<void> }> {
  if (kind === 'pglite') {
    const database = await openPgliteDatabase({});
    return { database, dispose: () => database.close() };
  }
  const schema = randomSchemaName();
  const database = await openPostgresDatabase({ connectionString: await postgresTestUrl(), schema });
  return {
    database,
    dispose: async () => {
      await database.query(`DROP SCHEMA ${schema} CASCADE`);
      await database.close();
    },
  };
}

const baseTokens = sampleRecord().tokens;

/**
 * A record as a busy gateway writes them: time-ordered request ids (the gateway's UUIDv7), a
 * few organisations and keys, and latencies, tokens and costs that differ from row to row, so
 * that each index of the table is written where real traffic writes it (a constant latency or
 * cost would put every row of the "slowest" and "most expensive" indexes at one edge, and a
 * random request id every row of the request-id index anywhere).
 */
function trafficRecord(): UsageRecord {
  const input = 50 + Math.floor(Math.random() * 2_000);
  const output = 10 + Math.floor(Math.random() * 800);
  const upstreamMs = 200 + Math.random() * Math.random() * 8_000;
  const overheadMs = 0.3 + Math.random();
  const key = Math.floor(Math.random() * 20);
  return sampleRecord({
    requestId: uuidV7(),
    organizationId: `org-${key % 4}`,
    apiKeyId: `key-${key}`,
    latencyMs: upstreamMs + overheadMs,
    upstreamMs,
    gatewayOverheadMs: overheadMs,
    tokens: { ...baseTokens, input, output, billable: input + output },
    costNanos: BigInt(input * 150 + output * 600),
    providerUsage: { prompt_tokens: input, completion_tokens: output },
  });
}

/** Drops the named indexes of usage_records (and so of its partitions); an unknown name is an error. */
async function dropUsageIndexes(database: Database, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const rows = await database.query<{ name: string }>(
    `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'usage_records'::regclass`,
  );
  const existing = rows.map((row) => row.name.replace(/^.*\./, ''));
  for (const name of names) {
    if (!existing.includes(name))
      throw new Error(`--drop-index: usage_records has no index "${name}" (it has ${existing.join(', ')})`);
    await database.query(`DROP INDEX ${name}`);
  }
}

async function main(): Promise<void> {
  const { values } = toolArgs(usage, {
    options: {
      database: { type: 'string', default: 'both' },
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string', default: '2000' },
      'batch-size': { type: 'string', default: '500' },
      'flush-interval-ms': { type: 'string', default: '200' },
      output: { type: 'string' },
      'drop-index': { type: 'string', multiple: true },
    },
  });
  const dropIndexes = values['drop-index'] ?? [];
  const options = {
    seconds: Number(values.seconds),
    rate: Number(values.rate),
    batchSize: Number(values['batch-size']),
    flushIntervalMs: Number(values['flush-interval-ms']),
  };
  const kinds =
    values.database === 'both'
      ? (['postgres', 'pglite'] as const)
      : [values.database as 'postgres' | 'pglite'];
  const results: Array<{ database: string } & PhaseResult> = [];
  for (const kind of kinds) {
    const { database, dispose } = await openTarget(kind);
    try {
      await migrate(database);
      await dropUsageIndexes(database, dropIndexes);
      await maintainUsagePartitions(database, { retentionDays: 0 });
      for (const phase of ['saturation', 'steady'] as const) {
        const result = await runPhase(database, phase, options);
        results.push({ database: kind, ...result });
        process.stderr.write(`${kind} ${phase}: ${JSON.stringify(result)}\n`);
      }
    } finally {
      await dispose();
    }
  }
  const report = {
    benchmark: 'usage-throughput',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    options: { ...options, droppedIndexes: dropIndexes },
    results,
  };
  const lines = [
    '| database | phase | offered/s | written/s | mean batch | write p50/p99 ms | flush delay p50/p95/p99/max ms | lost | server CPU µs/row |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (result) =>
        `| ${result.database} | ${result.phase} | ${result.offeredPerSecond} | ${result.writtenPerSecond} | ${result.meanBatchSize} | ${result.writeMs.p50}/${result.writeMs.p99} | ${result.flushDelayMs.p50}/${result.flushDelayMs.p95}/${result.flushDelayMs.p99}/${result.flushDelayMs.max} | ${result.lost} | ${result.serverCpuUsPerRow ?? 'n/a'} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.output !== undefined) await writeFile(values.output, `${JSON.stringify(report, null, 2)}\n`);
}

await main();
