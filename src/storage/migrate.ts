/**
 * Ordered SQL migrations (`migrations/NNNN_name.sql`), each applied once and recorded in
 * `schema_migrations`. The same files run on PGlite and PostgreSQL.
 */
import { readdir, readFile } from 'node:fs/promises';
import type { Database } from './database.ts';

export const migrationsDirectory = new URL('./migrations/', import.meta.url);

export interface Migration {
  /** The file name without `.sql`, e.g. `0001_gateway_core`; recorded in schema_migrations. */
  readonly version: string;
  readonly statements: readonly string[];
}

/**
 * Applies the pending migrations in one transaction and resolves to the versions it applied
 * (empty when the schema was current). Replicas starting together serialise on an advisory
 * lock taken before anything is read, so exactly one applies each migration and the others
 * then find it recorded. The lock is keyed by the current schema, so isolated schemas (tests)
 * do not wait for each other.
 */
export async function migrate(
  database: Database,
  directory: URL | string = migrationsDirectory,
): Promise<string[]> {
  const migrations = await readMigrations(directory);
  return database.transaction(async (transaction) => {
    await transaction.query(
      `SELECT pg_advisory_xact_lock(hashtext('odock-server.migrate:' || coalesce(current_schema(), '')))`,
    );
    await transaction.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const rows = await transaction.query<{ version: string }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => row.version));
    const newlyApplied: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements) await transaction.query(statement);
      await transaction.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}

export async function readMigrations(directory: URL | string = migrationsDirectory): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name)).sort();
  const base = typeof directory === 'string' ? directory.replace(/\/?$/, '/') : directory;
  return Promise.all(
    names.map(async (name) => {
      const path = typeof base === 'string' ? `${base}${name}` : new URL(name, base);
      const statements = splitSqlStatements(await readFile(path, 'utf8'));
      return { version: name.slice(0, -'.sql'.length), statements };
    }),
  );
}

/**
 * Splits a script into single statements at top-level semicolons. Needed because PGlite's
 * parameterised `query` (the only method of the Database port) accepts one statement at a
 * time. Understands the syntax where a semicolon is not a separator: '...' strings, "..."
 * identifiers, $tag$...$tag$ bodies, -- line and /* block *\/ comments.
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let index = 0;
  const skipPast = (terminator: string, from: number) => {
    const end = script.indexOf(terminator, from);
    return end === -1 ? script.length : end + terminator.length;
  };
  while (index < script.length) {
    const character = script[index];
    const next = script[index + 1];
    if (character === '-' && next === '-') index = skipPast('\n', index + 2);
    else if (character === '/' && next === '*') index = skipPast('*/', index + 2);
    else if (character === "'" || character === '"') {
      // A doubled quote inside the literal reads as two literals back to back, which is fine.
      index = skipPast(character, index + 1);
    } else if (character === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(index))?.[0];
      index = tag === undefined ? index + 1 : skipPast(tag, index + tag.length);
    } else if (character === ';') {
      statements.push(script.slice(start, index));
      index += 1;
      start = index;
    } else index += 1;
  }
  statements.push(script.slice(start));
  return statements.filter((statement) => stripComments(statement).trim() !== '').map((text) => text.trim());
}

function stripComments(statement: string): string {
  return statement.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
