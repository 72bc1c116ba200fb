/**
 * The embedded adapter: PostgreSQL compiled to WebAssembly (PGlite), persisted under a data
 * directory, so a single replica needs no database server. PGlite is one connection, so every
 * statement and every transaction runs strictly one after another (see `#exclusive`).
 */
import { mkdir } from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { assertSchemaName, columnTypeIds, parseUtcTimestamp } from './column-types.ts';
import { lockDataDirectory } from './data-directory-lock.ts';
import type { CopyInput, Database, Queryable } from './database.ts';

export interface PgliteDatabaseOptions {
  /** Directory holding the database files; undefined keeps the database in memory only. */
  dataDir?: string;
  /** Schema created if missing and put first on the search path. */
  schema?: string;
}

export async function openPgliteDatabase(options: PgliteDatabaseOptions = {}): Promise<Database> {
  const schema = options.schema === undefined ? undefined : assertSchemaName(options.schema);
  let unlock = async () => {};
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true });
    // Before PGlite touches the files: a second process on them would corrupt the database.
    unlock = await lockDataDirectory(options.dataDir);
  }
  let pglite: PGlite | undefined;
  try {
    pglite = await PGlite.create({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      parsers: {
        [columnTypeIds.int8]: (text: string) => BigInt(text),
        [columnTypeIds.date]: (text: string) => text,
        [columnTypeIds.timestamp]: parseUtcTimestamp,
      },
    });
    if (schema !== undefined) {
      // One connection means a session-level search_path holds for every later statement.
      await pglite.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"; SET search_path TO "${schema}"`);
    }
    return new PgliteDatabase(pglite, unlock);
  } catch (error) {
    await pglite?.close().catch(() => undefined);
    await unlock();
    throw error;
  }
}

class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #pglite: PGlite;
  readonly #unlock: () => Promise<void>;
  /**
   * Tail of the queue of work on the single connection. PGlite already makes a top-level
   * `query` wait for an open transaction, but that is an implementation detail of one version;
   * our own queue makes "a statement outside a transaction never runs inside one" a property of
   * this adapter, and lets `close` wait for work in flight.
   */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(pglite: PGlite, unlock: () => Promise<void>) {
    this.#pglite = pglite;
    this.#unlock = unlock;
  }

  query<Row extends object = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<Row[]> {
    return this.#exclusive(async () => {
      const result = await this.#pglite.query<Row>(sql, params === undefined ? undefined : [...params]);
      return result.rows;
    });
  }

  copyFrom(target: string, input: CopyInput): Promise<void> {
    return this.#exclusive(() => copyBlob(this.#pglite, target, input));
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    // PGlite issues BEGIN, then COMMIT when `work` resolves or ROLLBACK when it throws.
    return this.#exclusive(() =>
      this.#pglite.transaction((transaction) => work(wrapTransaction(transaction))),
    );
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Let queued work finish (errors included) before the instance goes away.
    await this.#tail.catch(() => undefined);
    try {
      await this.#pglite.close();
    } finally {
      await this.#unlock();
    }
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the database is closed'));
    const run = this.#tail.then(work);
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

function wrapTransaction(transaction: Transaction): Queryable {
  return {
    async query<Row extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
      const result = await transaction.query<Row>(sql, params === undefined ? undefined : [...params]);
      return result.rows;
    },
    copyFrom: (target, input) => copyBlob(transaction, target, input),
  };
}

/** PGlite has no client stream: its COPY reads the input from the `/dev/blob` it is given. */
async function copyBlob(database: PGlite | Transaction, target: string, input: CopyInput): Promise<void> {
  const blob = new Blob(typeof input === 'string' ? [input] : (input as Uint8Array<ArrayBuffer>[]));
  await database.query(`COPY ${target} FROM '/dev/blob'`, [], { blob });
}
