/**
 * `odock-server usage ...`: operator commands on the usage records, reading the gateway's
 * database directly (DATABASE_URL, or the embedded database under ODOCK_DATA_DIR when no
 * gateway holds it), across organisations unless `--org` narrows them.
 *
 *   usage tail [--org ID] [--since 5m] [--interval-ms 1000] [--max N]
 *   usage export --from TIME [--to TIME] [--format csv|jsonl] [--output FILE] [--org ID] [filters]
 *   usage admin-key --org ID [--id ID]
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { loadSettings } from '../settings.ts';
import type { Database } from '../storage/database.ts';
import { migrate } from '../storage/migrate.ts';
import { openDatabase } from '../storage/open-database.ts';
import { mintAdminKey } from './admin-keys.ts';
import { type ExportFormat, type ExportProgress, exportFormats, exportRecords } from './usage-export.ts';
import { parseTime, parseUsageFilter } from './usage-query.ts';
import { nanosToUsd, type UsageRow } from './usage-view.ts';

export const usageCliHelp = `usage: odock-server usage <command>

  tail [--org ID] [--since 5m] [--interval-ms 1000] [--max N]
        follow new usage records, one line each (Ctrl-C stops)
  export --from TIME [--to TIME] [--format csv|jsonl] [--output FILE] [--org ID]
         [--provider P] [--model M] [--api-key K] [--team T] [--user U]
         [--status-class 2xx] [--outcome success|client_error|server_error|client_aborted]
        write every record of the range (stdout by default); progress on stderr
  admin-key --org ID [--id ID]
        mint an organisation admin key for the usage API; prints it once
`;

export interface CliStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const defaultStreams = (): CliStreams => ({ stdout: process.stdout, stderr: process.stderr });

export async function runUsageCli(argv: string[], streams: CliStreams = defaultStreams()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'tail':
        return await tail(rest, streams);
      case 'export':
        return await exportCommand(rest, streams);
      case 'admin-key':
        return await adminKey(rest, streams);
      case 'help':
      case '--help':
      case '-h':
        streams.stdout.write(usageCliHelp);
        return 0;
      default:
        streams.stderr.write(
          `${command === undefined ? '' : `unknown usage command "${command}"\n\n`}${usageCliHelp}`,
        );
        return 2;
    }
  } catch (error) {
    // A filter the API would answer 400 for is an operator mistake here: its message, no stack.
    if (error instanceof GatewayError) throw new ConfigError('arguments', [error.publicMessage]);
    throw error;
  }
}

async function openUsageDatabase(): Promise<Database> {
  const settings = loadSettings();
  let database: Database;
  try {
    database = await openDatabase({ databaseUrl: settings.databaseUrl, dataDir: settings.dataDir });
  } catch (error) {
    // A gateway holds the embedded database: an operator situation, not a crash.
    if ((error as Error).name === 'DataDirectoryLockedError')
      throw new ConfigError('database', [
        `${(error as Error).message}; while it runs, read usage through its HTTP API (/v1/usage/export)`,
      ]);
    throw error;
  }
  try {
    await migrate(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

/** `90s`, `5m`, `2h`, `1d` → milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (match === null) throw new ConfigError('arguments', [`${flag}: a duration such as 30s, 5m, 2h or 1d`]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    match[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Number(match[1]) * unit;
}

/** Records committed in another order than their `recorded_at` (concurrent writers) show up late. */
const tailLookbackMs = 10_000;
/** Records of requests older than this are not looked for (partition pruning); far above any deadline. */
const tailRequestHorizonMs = 86_400_000;

async function tail(argv: string[], streams: CliStreams): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      org: { type: 'string' },
      since: { type: 'string', default: '1m' },
      'interval-ms': { type: 'string', default: '1000' },
      max: { type: 'string' },
    },
  });
  const intervalMs = Number(values['interval-ms']);
  if (!Number.isInteger(intervalMs) || intervalMs < 50)
    throw new ConfigError('arguments', ['--interval-ms: an integer of at least 50']);
  const maximum = values.max === undefined ? Number.POSITIVE_INFINITY : Number(values.max);
  if (!(maximum > 0)) throw new ConfigError('arguments', ['--max: a positive integer']);
  const database = await openUsageDatabase();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const started = Date.now();
    const since = started - parseDuration('--since', values.since);
    let watermark = new Date(since);
    const seen = new Map<string, number>();
    let printed = 0;
    streams.stderr.write(
      `following usage records${values.org === undefined ? '' : ` of ${values.org}`} stored since ${new Date(since).toISOString()} (Ctrl-C stops)\n`,
    );
    while (!stop.signal.aborted && printed < maximum) {
      const rows = await database.query<UsageRow>(
        `SELECT * FROM usage_records
         WHERE recorded_at > $1 AND requested_at > $2 ${values.org === undefined ? '' : 'AND organization_id = $3'}
         ORDER BY recorded_at, id LIMIT 1000`,
        [
          new Date(Math.max(since, watermark.getTime() - tailLookbackMs)),
          new Date(started - tailRequestHorizonMs),
          ...(values.org === undefined ? [] : [values.org]),
        ],
      );
      for (const row of rows) {
        if (seen.has(row.id) || printed >= maximum) continue;
        seen.set(row.id, row.recorded_at.getTime());
        streams.stdout.write(`${formatTailLine(row)}\n`);
        printed += 1;
        if (row.recorded_at > watermark) watermark = row.recorded_at;
      }
      for (const [id, recordedAt] of seen)
        if (recordedAt < watermark.getTime() - 2 * tailLookbackMs) seen.delete(id);
      if (rows.length < 1000 && printed < maximum)
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, intervalMs);
          stop.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve(undefined);
          });
        });
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await database.close();
  }
}

/** One record, human readable: when, what, how it went, how long, how much, and the ids to join on. */
export function formatTailLine(row: UsageRow): string {
  const target = row.model === null ? (row.requested_model ?? '-') : `${row.provider}/${row.model}`;
  const who = row.organization_id === null ? '-' : `${row.organization_id}/${row.api_key_id ?? '-'}`;
  const parts = [
    row.requested_at.toISOString(),
    String(row.status),
    (row.error_code ?? row.outcome).padEnd(14),
    row.endpoint.padEnd(16),
    target,
    who,
    `${row.latency_ms.toFixed(1)}ms`,
  ];
  if (row.stream) parts.push(`stream:${row.stream_outcome ?? '-'}`);
  if (row.time_to_first_token_ms !== null) parts.push(`ttft=${row.time_to_first_token_ms.toFixed(1)}ms`);
  if (row.input_tokens + row.output_tokens > 0) parts.push(`tokens=${row.input_tokens}→${row.output_tokens}`);
  if (row.cost_nanos > 0n) parts.push(`$${nanosToUsd(row.cost_nanos)}`);
  parts.push(`request_id=${row.request_id}`);
  if (row.trace_id !== null) parts.push(`trace_id=${row.trace_id}`);
  return parts.join('  ');
}

async function exportCommand(argv: string[], streams: CliStreams): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string', default: 'jsonl' },
      output: { type: 'string' },
      org: { type: 'string' },
      provider: { type: 'string' },
      model: { type: 'string' },
      'api-key': { type: 'string' },
      team: { type: 'string' },
      user: { type: 'string' },
      'status-class': { type: 'string' },
      outcome: { type: 'string' },
    },
  });
  const problems: string[] = [];
  if (values.from === undefined) problems.push('--from is required (RFC 3339, e.g. 2026-01-01T00:00:00Z)');
  if (!(exportFormats as readonly string[]).includes(values.format))
    problems.push(`--format: one of ${exportFormats.join(', ')}`);
  if (problems.length > 0) throw new ConfigError('arguments', problems);
  const query = new URLSearchParams();
  const flags = {
    from: values.from,
    to: values.to,
    provider: values.provider,
    model: values.model,
    api_key_id: values['api-key'],
    team_id: values.team,
    user_id: values.user,
    status_class: values['status-class'],
    outcome: values.outcome,
  };
  for (const [name, value] of Object.entries(flags)) if (value !== undefined) query.set(name, value);
  if (values.from !== undefined) parseTime('from', values.from);
  const filter = parseUsageFilter(query, values.org);

  const output = values.output === undefined ? streams.stdout : createWriteStream(values.output);
  const database = await openUsageDatabase();
  const progress = progressReporter(streams.stderr);
  const started = performance.now();
  try {
    const records = await exportRecords(
      database,
      filter,
      values.format as ExportFormat,
      async (chunk) => {
        if (!output.write(chunk)) await once(output, 'drain');
      },
      progress.update,
    );
    if (output !== streams.stdout) {
      const finished = once(output, 'finish');
      output.end();
      await finished;
    }
    progress.done(
      `exported ${records} usage record${records === 1 ? '' : 's'} (${filter.from.toISOString()} to ${filter.to.toISOString()}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return 0;
  } finally {
    await database.close();
  }
}

/** A progress line on stderr: rewritten in place on a terminal, one line per second otherwise. */
export function progressReporter(stderr: CliStreams['stderr']) {
  let lastAt = 0;
  let drawn = false;
  const describe = (progress: ExportProgress) =>
    `exporting: ${progress.records} records, ${(progress.fraction * 100).toFixed(1)}% of the range${
      progress.reached === undefined ? '' : `, at ${progress.reached.toISOString()}`
    }`;
  return {
    update(progress: ExportProgress) {
      if (progress.reached === undefined) return;
      const now = performance.now();
      if (stderr.isTTY) {
        stderr.write(`\r\x1b[2K${describe(progress)}`);
        drawn = true;
      } else if (now - lastAt >= 1_000) {
        stderr.write(`${describe(progress)}\n`);
        lastAt = now;
      }
    },
    done(message: string) {
      stderr.write(`${drawn ? '\r\x1b[2K' : ''}${message}\n`);
    },
  };
}

async function adminKey(argv: string[], streams: CliStreams): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { org: { type: 'string' }, id: { type: 'string' } } });
  if (values.org === undefined) throw new ConfigError('arguments', ['--org is required']);
  const settings = loadSettings();
  const config = await loadConfigFile(settings.configPath);
  if (!config.document.organizations.some((organization) => organization.id === values.org))
    throw new ConfigError('arguments', [`--org: unknown organization "${values.org}"`]);
  const { secret, sha256 } = mintAdminKey();
  const id = values.id ?? `${values.org}-admin`;
  streams.stderr.write(
    `admin key for organization ${values.org}; it is shown once. Add to admin_keys in ${settings.configPath} and restart:\n` +
      `  - id: ${id}\n    organization: ${values.org}\n    secret_sha256: ${sha256}\n`,
  );
  streams.stdout.write(`${secret}\n`);
  return 0;
}
