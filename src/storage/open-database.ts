/**
 * Picks the SQL adapter from the environment: a real PostgreSQL when DATABASE_URL is set
 * (several replicas share it), otherwise embedded PGlite persisted under the data directory.
 */
import { join } from 'node:path';
import type { Database } from './database.ts';
import { openPostgresDatabase } from './postgres-database.ts';

export interface OpenDatabaseOptions {
  /** DATABASE_URL; empty or undefined selects PGlite. */
  databaseUrl?: string;
  /** ODOCK_DATA_DIR; PGlite keeps its files in `${dataDir}/pglite`. */
  dataDir: string;
  schema?: string;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const schema = options.schema === undefined ? {} : { schema: options.schema };
  if (options.databaseUrl) return openPostgresDatabase({ connectionString: options.databaseUrl, ...schema });
  // Loaded only here: a gateway on PostgreSQL never compiles PGlite's module.
  const { openPgliteDatabase } = await import('./pglite-database.ts');
  return openPgliteDatabase({ dataDir: join(options.dataDir, 'pglite'), ...schema });
}
