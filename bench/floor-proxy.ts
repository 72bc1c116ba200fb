/**
 * The floor under odock-server's cost: the bare proxy's stack (`node:http` server, one undici
 * `Agent`, `dispatch`) plus, level by level, the work every gateway with odock-server's features
 * does for a unary call, written as plainly as it can be: no stages, no request context, no
 * spans, no error classes, one function per request. `bench/floor.ts` measures each level's CPU
 * per request beside the bare proxy and odock-server, so what the features cost on Node can be
 * told apart from what the gateway's own way of doing them costs (docs/performance.md).
 *
 * The levels add up (level 4 does the work of 1, 2 and 3 too):
 *   1  the key's SHA-256 looked up in a map, the request body parsed, the model looked up and
 *      replaced, the body serialised again, the provider's headers instead of the client's
 *   2  the whole answer read and parsed for its usage (its bytes relayed as they came)
 *   3  a usage row of the record's 42 columns in COPY's text format, written into a slab
 *      outside the heap and dropped every 200 ms (no database)
 *   4  an access log line (the gateway's fields as one JSON template), batched every 10 ms
 *      to /dev/null
 *   5  metrics through prom-client: requests, duration, provider requests and duration,
 *      tokens by class
 *   6  a request id (UUID) answered in `x-request-id`, an AbortController and a whole-exchange
 *      deadline timer per call, the client's disconnect cancelling the upstream call
 *   7  the two features the levels above leave out that cost the gateway's process CPU: the
 *      body checked against the API's schema (the gateway's own zod decoder) and the usage
 *      rows sent to PostgreSQL, one `COPY ... FROM STDIN` every 200 ms through the gateway's
 *      own PostgreSQL adapter, into `floor_usage_records` of the database `--database-url`
 *      names: a table made `LIKE usage_records` (after the gateway's own migrations), with its
 *      columns, types, checks and seven indexes, so that PostgreSQL does for each of the
 *      floor's rows the work it does for each of the gateway's
 *
 * Unary chat completions only; the upstream is the one `x-upstream` names, as for the bare
 * proxy, so the benchmark's bare-proxy request serves both.
 *
 *   node bench/floor-proxy.ts --port 18230 --level 6
 *   node bench/floor-proxy.ts --port 18230 --level 7 --database-url postgres://postgres@127.0.0.1:5432/odock_bench
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Counter, Histogram, Registry } from 'prom-client';
import { Agent } from 'undici';
import { decodeChatCompletions } from '../src/gateway/decode.ts';
import type { Database } from '../src/storage/database.ts';
import { migrate } from '../src/storage/migrate.ts';
import { openPostgresDatabase } from '../src/storage/postgres-database.ts';
import { usageRowColumns } from '../src/usage/usage-writer.ts';
import { upstreamHeader } from './bare-proxy.ts';
import { closeOnSignals, listen, readWholeBody } from './http-server.ts';

export const floorLevels = [1, 2, 3, 4, 5, 6, 7] as const;
export type FloorLevel = (typeof floorLevels)[number];

/** What each level adds, for the tables of `bench/floor.ts`. */
export const floorLevelNames: Record<FloorLevel, string> = {
  1: 'key lookup, request parsed and re-serialised',
  2: '+ answer parsed for usage',
  3: '+ usage row (42 columns, into a slab outside the heap, no database)',
  4: '+ access log line',
  5: '+ metrics (prom-client)',
  6: '+ request id, abort controller, deadline timer',
  7: '+ body checked by zod, usage rows to PostgreSQL',
};

/** The table of level 7's usage rows: the usage records' own columns and indexes, unpartitioned. */
const usageTable = 'floor_usage_records';
const copyTarget = `${usageTable} (${usageRowColumns.join(', ')})`;

/** The key the benchmark's bare-proxy request carries (`requestFor`), known to the floor proxy. */
const benchProviderKey = 'sk-mock-upstream';
const upstreamPath = '/v1/chat/completions';
const deadlineMs = 30_000;

interface Principal {
  organizationId: string;
  teamId: string;
  apiKeyId: string;
}

interface Model {
  provider: string;
  upstreamModel: string;
  /** USD per million tokens. */
  input: number;
  output: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** COPY text format: tab-separated, `\N` for NULL; the benchmark's values need no escaping. */
const copyValue = (value: string | number | null) => (value === null ? '\\N' : String(value));

interface Answer {
  id?: string;
  model?: string;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

export async function startFloorProxy(options: {
  host: string;
  port: number;
  level: FloorLevel;
  /** Level 7: the database whose `floor_usage_records` receives the usage rows (created if missing). */
  databaseUrl?: string;
  /** Level 7: the schema of that table and of the gateway's own (the tests' isolation); default the database's. */
  schema?: string;
}) {
  const { level } = options;
  const database = level >= 7 ? await openUsageTable(options.databaseUrl, options.schema) : undefined;
  const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, pipelining: 1 });
  const keys = new Map<string, Principal>([
    [sha256(benchProviderKey), { organizationId: 'bench', teamId: 'bench-team', apiKeyId: 'bench-key' }],
  ]);
  const models = new Map<string, Model>([
    ['mock-gpt', { provider: 'mock-20ms', upstreamModel: 'mock-gpt', input: 0.15, output: 0.6 }],
  ]);

  // Rows wait for their batch outside the heap, as the gateway's do (a slab the batch's COPY
  // would send): kept as strings for 200 ms they would be promoted and die in the old generation.
  let slab = Buffer.allocUnsafe(1024 * 1024);
  let slabUsed = 0;
  let slabRows = 0;
  /** Level 7: the COPY of the batch before, while it runs (the next batch waits for it). */
  let copying: Promise<void> | undefined;
  let copiedRows = 0;
  const rowFlush = setInterval(() => {
    if (database === undefined) {
      slabUsed = 0;
      slabRows = 0;
      return;
    }
    if (slabUsed === 0 || copying !== undefined) return;
    const batch = slab.subarray(0, slabUsed);
    const rows = slabRows;
    slab = Buffer.allocUnsafe(slab.length);
    slabUsed = 0;
    slabRows = 0;
    // A COPY is all or nothing: once it succeeds, PostgreSQL has every row of the batch.
    copying = database
      .copyFrom(copyTarget, [batch])
      .then(() => {
        copiedRows += rows;
      })
      .catch((error: unknown) => {
        process.stderr.write(`floor proxy: COPY failed: ${String(error)}\n`);
      })
      .finally(() => {
        copying = undefined;
      });
  }, 200);
  // A slab that fills (about 2,500 rows: at level 7, a COPY that has not finished meanwhile)
  // starts over and those rows are lost: the floor measures the work, it keeps no records.
  const appendRow = (row: string) => {
    if (slabUsed + row.length * 3 > slab.length) {
      slabUsed = 0;
      slabRows = 0;
    }
    slabUsed += slab.write(row, slabUsed);
    slabRows += 1;
  };
  const logSink = createWriteStream('/dev/null');
  let logLines: string[] = [];
  let logFlushScheduled = false;
  const flushLog = () => {
    logFlushScheduled = false;
    logSink.write(logLines.join(''));
    logLines = [];
  };

  const registry = new Registry();
  const requestLabels = ['route', 'endpoint', 'status_class', 'stream'];
  const requests = new Counter({
    name: 'requests_total',
    help: 'requests',
    labelNames: requestLabels,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'request_seconds',
    help: 'duration',
    labelNames: requestLabels,
    registers: [registry],
  });
  const providerRequests = new Counter({
    name: 'provider_requests_total',
    help: 'provider requests',
    labelNames: ['provider', 'model', 'endpoint', 'status_class'],
    registers: [registry],
  });
  const providerDuration = new Histogram({
    name: 'provider_request_seconds',
    help: 'provider duration',
    labelNames: ['provider', 'model', 'endpoint'],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'tokens_total',
    help: 'tokens',
    labelNames: ['provider', 'model', 'organization_id', 'api_key_id', 'token_class'],
    registers: [registry],
  });

  const fail = (response: ServerResponse, status: number, message: string) => {
    const body = JSON.stringify({ error: { message } });
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  };

  const handle = (request: IncomingMessage, response: ServerResponse, body: Buffer): void => {
    const startedAt = performance.now();
    const requestId = level >= 6 ? randomUUID() : undefined;
    const authorization = request.headers.authorization;
    const principal =
      authorization?.startsWith('Bearer ') === true ? keys.get(sha256(authorization.slice(7))) : undefined;
    if (principal === undefined) {
      fail(response, 401, 'invalid key');
      return;
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      fail(response, 400, 'malformed JSON');
      return;
    }
    if (parsed.stream === true) {
      fail(response, 400, 'the floor proxy answers unary calls only');
      return;
    }
    if (level >= 7) {
      try {
        decodeChatCompletions(parsed);
      } catch (error) {
        fail(response, 400, error instanceof Error ? error.message : 'invalid request');
        return;
      }
    }
    const model = typeof parsed.model === 'string' ? models.get(parsed.model) : undefined;
    if (model === undefined) {
      fail(response, 404, 'unknown model');
      return;
    }
    const origin = request.headers[upstreamHeader];
    if (typeof origin !== 'string') {
      fail(response, 400, `no ${upstreamHeader}`);
      return;
    }
    const forward = JSON.stringify({ ...parsed, model: model.upstreamModel });

    const abort = level >= 6 ? new AbortController() : undefined;
    const deadline = level >= 6 ? setTimeout(() => abort!.abort(), deadlineMs) : undefined;
    if (abort !== undefined)
      response.once('close', () => {
        if (!response.writableFinished) abort.abort();
      });
    const chunks: Buffer[] = [];
    let status = 0;
    const upstreamStartedAt = performance.now();
    agent.dispatch(
      {
        origin,
        path: upstreamPath,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${benchProviderKey}`,
          ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
        },
        body: forward,
        ...(level >= 6 ? { headersTimeout: deadlineMs, bodyTimeout: deadlineMs } : {}),
      },
      {
        onRequestStart(controller) {
          abort?.signal.addEventListener('abort', () => controller.abort(new Error('aborted')), {
            once: true,
          });
        },
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(_controller, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          clearTimeout(deadline);
          const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          let answer: Answer = {};
          if (level >= 2) {
            try {
              answer = JSON.parse(bytes.toString('utf8')) as Answer;
            } catch {
              return fail(response, 502, 'malformed answer');
            }
          }
          response.writeHead(status, {
            'content-type': 'application/json',
            'content-length': bytes.length,
            ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
          });
          response.end(bytes);
          if (level >= 3) record(principal, model, answer, status, requestId, startedAt, upstreamStartedAt);
        },
        onResponseError(_controller, error) {
          clearTimeout(deadline);
          if (!response.headersSent) fail(response, 502, error.message);
          else response.destroy();
        },
      },
    );
  };

  /** What every call leaves behind: its usage row, its access log line, its metrics. */
  const record = (
    principal: Principal,
    model: Model,
    answer: Answer,
    status: number,
    requestId: string | undefined,
    startedAt: number,
    upstreamStartedAt: number,
  ) => {
    const endedAt = performance.now();
    const input = answer.usage?.prompt_tokens ?? 0;
    const output = answer.usage?.completion_tokens ?? 0;
    const id = requestId ?? randomUUID();
    const latencyMs = endedAt - startedAt;
    const upstreamMs = endedAt - upstreamStartedAt;
    const costNanos = Math.round((input * model.input + output * model.output) * 1000);
    appendRow(
      `${[
        id,
        id,
        null,
        new Date().toISOString(),
        principal.organizationId,
        principal.teamId,
        null,
        principal.apiKeyId,
        model.provider,
        'mock-gpt',
        'mock-gpt',
        answer.model ?? null,
        'chat',
        upstreamPath,
        'f',
        null,
        status,
        'success',
        null,
        latencyMs,
        upstreamMs,
        latencyMs - upstreamMs,
        null,
        0,
        input,
        output,
        0,
        0,
        0,
        0,
        0,
        0,
        null,
        0,
        input + output,
        null,
        null,
        costNanos,
        answer.id ?? null,
        JSON.stringify(answer.usage ?? null),
        `[{"model":"mock-gpt","status":${status},"outcome":"success","provider":"${model.provider}","error_code":null,"duration_ms":${upstreamMs},"started_after_ms":0}]`,
        '{"safety":[],"plugins":[],"rate_limits":[]}',
      ]
        .map(copyValue)
        .join('\t')}\n`,
    );
    if (level >= 4) {
      logLines.push(
        `{"level":"info","time":"${new Date().toISOString()}","service.name":"odock-server","request_id":"${id}",` +
          `"route":"${upstreamPath}","endpoint":"chat","status":${status},"duration_ms":${Math.round(latencyMs * 1000) / 1000},` +
          `"organization_id":"${principal.organizationId}","provider":"${model.provider}","model":"mock-gpt","attempts":1,"message":"request completed"}\n`,
      );
      if (!logFlushScheduled) {
        logFlushScheduled = true;
        setTimeout(flushLog, 10);
      }
    }
    if (level >= 5) {
      const labels = { route: upstreamPath, endpoint: 'chat', status_class: '2xx', stream: 'false' };
      requests.inc(labels);
      duration.observe(labels, latencyMs / 1000);
      providerRequests.inc({
        provider: model.provider,
        model: 'mock-gpt',
        endpoint: 'chat',
        status_class: '2xx',
      });
      providerDuration.observe(
        { provider: model.provider, model: 'mock-gpt', endpoint: 'chat' },
        upstreamMs / 1000,
      );
      const tokenLabels = {
        provider: model.provider,
        model: 'mock-gpt',
        organization_id: principal.organizationId,
        api_key_id: principal.apiKeyId,
      };
      tokens.inc({ ...tokenLabels, token_class: 'input' }, input);
      tokens.inc({ ...tokenLabels, token_class: 'output' }, output);
    }
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) =>
    readWholeBody(request, (body) => handle(request, response, body)),
  );
  return listen(server, options.host, options.port).then((url) => ({
    url,
    registry,
    /** Level 7: usage rows PostgreSQL has taken so far. */
    copiedRows: () => copiedRows,
    close: async () => {
      clearInterval(rowFlush);
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await agent.close();
      logSink.end();
      await copying;
      await database?.close();
    },
  }));
}

/**
 * A pool of one connection, which each batch borrows as the gateway's usage writer does; the
 * gateway's migrations applied (idempotent: a gateway may have applied them already) and the
 * floor's table made like `usage_records` if missing.
 */
async function openUsageTable(
  databaseUrl: string | undefined,
  schema: string | undefined,
): Promise<Database> {
  if (databaseUrl === undefined) throw new Error('level 7 sends usage rows to PostgreSQL: --database-url');
  const database = await openPostgresDatabase({
    connectionString: databaseUrl,
    max: 1,
    ...(schema === undefined ? {} : { schema }),
  });
  await migrate(database);
  await database.query(
    `CREATE TABLE IF NOT EXISTS ${usageTable} (LIKE usage_records INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`,
  );
  return database;
}

export function floorLevelOption(value: string, option = '--level'): FloorLevel {
  const level = Number(value);
  if (!(floorLevels as readonly number[]).includes(level))
    throw new Error(`${option}: one of ${floorLevels.join(', ')} (got ${value})`);
  return level as FloorLevel;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      level: { type: 'string', default: '6' },
      'database-url': { type: 'string' },
    },
  });
  const proxy = await startFloorProxy({
    host: values.host,
    port: Number(values.port),
    level: floorLevelOption(values.level),
    ...(values['database-url'] === undefined ? {} : { databaseUrl: values['database-url'] }),
  });
  process.stdout.write(`floor proxy (level ${values.level}) listening on ${proxy.url}\n`);
  closeOnSignals(proxy.close);
}
