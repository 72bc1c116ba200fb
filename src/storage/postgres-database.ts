/**
 * The server adapter: a `pg` connection pool to a real PostgreSQL, used when DATABASE_URL is
 * set so several replicas share one database.
 */
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import { assertSchemaName, columnTypeIds, parseUtcTimestamp } from './column-types.ts';
import type { CopyInput, Database, Queryable } from './database.ts';

export interface PostgresDatabaseOptions {
  connectionString: string;
  /** Schema created if missing and set as the search_path of every pooled connection. */
  schema?: string;
  /** Pool size; defaults to 10. */
  max?: number;
  /** Server-side statement_timeout for every connection; unset means none. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection before failing; defaults to 10 s. */
  connectTimeoutMs?: number;
  /** Errors of idle connections (server restart, network cut); defaults to a process warning. */
  onError?: (error: Error) => void;
}

type TextParser = (text: string) => unknown;
/** pg's own parsers, typed by plain type id (its typings accept only the builtin enum). */
const defaultParser = pg.types.getTypeParser as (typeId: number, format?: 'text' | 'binary') => TextParser;
const textArrayTypeId = 1009;
const parseTextArray = defaultParser(textArrayTypeId) as (text: string) => (string | null)[];

/** Column parsers matching the PGlite adapter's (see column-types.ts). */
const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((typeId: number, format?: 'text' | 'binary') => {
    if (format === 'binary') return defaultParser(typeId, format);
    switch (typeId) {
      case columnTypeIds.int8:
        return (text: string) => BigInt(text);
      case columnTypeIds.int8Array:
        return (text: string) => parseTextArray(text).map((item) => (item === null ? null : BigInt(item)));
      case columnTypeIds.date:
        return (text: string) => text;
      case columnTypeIds.timestamp:
        return parseUtcTimestamp;
      default:
        return defaultParser(typeId, 'text');
    }
  }) as typeof pg.types.getTypeParser,
};

/** How the gateway's connections name themselves to the server (`pg_stat_activity`). */
export const postgresApplicationName = 'odock-server';

export async function openPostgresDatabase(options: PostgresDatabaseOptions): Promise<Database> {
  const schema = options.schema === undefined ? undefined : assertSchemaName(options.schema);
  const onError =
    options.onError ??
    ((error: Error) =>
      process.emitWarning(`PostgreSQL connection error: ${error.message}`, 'DatabaseWarning'));
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
    // A startup parameter rather than a SET after connect: it holds from the first statement
    // of every connection the pool ever opens, with no race against the first query.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    types: typeParsers,
    application_name: postgresApplicationName,
  });
  // An idle pooled connection that dies emits 'error' on the pool; unhandled, it would crash.
  pool.on('error', onError);
  // A checked-out client has no listener of the pool's, and the borrower attaches its own only
  // when the pool's promise resumes it. A new client is handed over inside the read that brought
  // the server's greeting; an error in that same read (a backend terminated right after its
  // start, as a failover does) would be emitted with no listener and crash the process. So
  // every client keeps this one, which reports what no other listener saw; the client is then
  // unusable, its next statement fails and the pool drops it on release.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      if (client.listenerCount('error') === 1) onError(error);
    });
  });
  try {
    if (schema !== undefined) await createSchema(pool, schema);
    // Fail at start (bad URL, server down) rather than on the first request.
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return new PostgresDatabase(pool, onError);
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (error) {
    // Two replicas creating the schema at once: IF NOT EXISTS is not atomic in the catalog.
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') throw error;
  }
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #onError: (error: Error) => void;
  #closed = false;

  constructor(pool: pg.Pool, onError: (error: Error) => void) {
    this.#pool = pool;
    this.#onError = onError;
  }

  async query<Row extends object = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<Row[]> {
    const result = await this.#pool.query(sql, params === undefined ? undefined : [...params]);
    return result.rows as Row[];
  }

  copyFrom(target: string, input: CopyInput): Promise<void> {
    // A COPY the server refused leaves the connection ready for the next statement.
    return this.#lend((client) => copyIn(client, target, input));
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#lend(async (client, connection) => {
      let open = true;
      const transaction: Queryable = {
        async query<Row extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
          // A Queryable kept after its transaction ended would run on a client lent to someone else.
          if (!open) throw new Error('the transaction has already ended');
          const result = await client.query(sql, params === undefined ? undefined : [...params]);
          return result.rows as Row[];
        },
        async copyFrom(target, input) {
          if (!open) throw new Error('the transaction has already ended');
          await copyIn(client, target, input);
        },
      };
      try {
        await client.query('BEGIN');
        const result = await work(transaction);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          connection.broken ??= rollbackError;
        });
        throw error;
      } finally {
        open = false;
      }
    });
  }

  /**
   * Lends `work` a pooled client. While checked out, the pool no longer listens for the
   * client's errors: a connection lost meanwhile would otherwise be an unhandled 'error' event.
   * A client whose connection failed (`broken`) is destroyed instead of going back to the pool.
   */
  async #lend<T>(work: (client: pg.PoolClient, connection: { broken?: Error }) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    const connection: { broken?: Error } = {};
    const onClientError = (error: Error) => {
      connection.broken = error;
      this.#onError(error);
    };
    client.on('error', onClientError);
    try {
      return await work(client, connection);
    } finally {
      client.off('error', onClientError);
      client.release(connection.broken ?? false);
    }
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/**
 * Streams the input of `COPY target FROM STDIN` on `client`: a string whole, or each piece of
 * its bytes as one CopyData message, written to the socket as it is.
 */
async function copyIn(client: pg.PoolClient, target: string, input: CopyInput): Promise<void> {
  const stream = client.query(copyFromStdin(`COPY ${target} FROM STDIN`));
  if (typeof input === 'string') stream.end(input);
  else {
    for (const piece of input) stream.write(piece);
    stream.end();
  }
  await finished(stream);
}
