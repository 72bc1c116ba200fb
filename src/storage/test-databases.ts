/**
 * Databases for the contract suites: the same cases run against PGlite and a real PostgreSQL.
 * Each `open()` yields an empty schema; PostgreSQL must be reachable (CI provides it), and an
 * unreachable server fails the suite instead of skipping it, so a green run proves both.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { CopyInput, Database, Queryable } from './database.ts';
import { openPgliteDatabase } from './pglite-database.ts';
import { openPostgresDatabase } from './postgres-database.ts';

/** The input of a COPY as one string, for test doubles that read it back. */
export function copyInputText(input: CopyInput): string {
  if (typeof input === 'string') return input;
  return Buffer.concat(input).toString('utf8');
}

export interface DatabaseHarness {
  readonly name: string;
  /** A database with an empty schema; closing it is cheap and does not affect other opens. */
  open(): Promise<Database>;
  /** Releases everything the harness created (schemas, instances). */
  cleanup(): Promise<void>;
}

export function randomSchemaName(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

/** ODOCK_TEST_DATABASE_URL, else the local server as `postgres`, else as `root`. */
export const postgresTestUrls = process.env['ODOCK_TEST_DATABASE_URL']
  ? [process.env['ODOCK_TEST_DATABASE_URL']]
  : ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

let resolvedUrl: Promise<string> | undefined;

/** The first test URL that accepts a connection; rejects with every failure otherwise. */
export function postgresTestUrl(): Promise<string> {
  resolvedUrl ??= (async () => {
    const failures: string[] = [];
    for (const url of postgresTestUrls) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
      try {
        await client.connect();
        await client.end();
        return url;
      } catch (error) {
        failures.push(`${url.replace(/:[^:@/]*@/, ':***@')}: ${(error as Error).message}`);
        await client.end().catch(() => undefined);
      }
    }
    throw new Error(`PostgreSQL is required by this suite and was not reachable:\n${failures.join('\n')}`);
  })();
  return resolvedUrl;
}

/**
 * One in-memory PGlite for the whole suite (starting one costs seconds: it runs initdb), with
 * its schema dropped and recreated on every open. Only `close` is intercepted.
 */
export function pgliteHarness(): DatabaseHarness {
  const schema = 'contract';
  let shared: Promise<Database> | undefined;
  return {
    name: 'pglite',
    async open() {
      shared ??= openPgliteDatabase({ schema });
      const database = await shared;
      await database.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await database.query(`CREATE SCHEMA ${schema}`);
      return { ...bindDatabase(database), close: async () => undefined };
    },
    async cleanup() {
      if (shared !== undefined) await (await shared).close();
    },
  };
}

/** A fresh `t_<random>` schema per open on the real server, all dropped by `cleanup`. */
export function postgresHarness(): DatabaseHarness {
  const schemas: string[] = [];
  return {
    name: 'postgres',
    async open() {
      const schema = randomSchemaName();
      schemas.push(schema);
      return openPostgresDatabase({ connectionString: await postgresTestUrl(), schema, max: 4 });
    },
    async cleanup() {
      if (schemas.length === 0) return;
      const client = new pg.Client({ connectionString: await postgresTestUrl() });
      await client.connect();
      try {
        for (const schema of schemas.splice(0))
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The Database methods as a plain object, so a harness can override one of them. */
function bindDatabase(database: Database): Database {
  return {
    kind: database.kind,
    query: <Row extends object>(sql: string, params?: readonly unknown[]) => database.query<Row>(sql, params),
    copyFrom: (target: string, input: CopyInput) => database.copyFrom(target, input),
    transaction: <T>(work: (tx: Queryable) => Promise<T>) => database.transaction(work),
    ping: () => database.ping(),
    close: () => database.close(),
  };
}
