/**
 * The SQL port. Two adapters implement it with the same SQL and the same migrations:
 * embedded Postgres (PGlite, persisted under ODOCK_DATA_DIR) when DATABASE_URL is unset, and a
 * real Postgres through a `pg` pool when it is set. Everything above this port writes
 * PostgreSQL; nothing above it knows which adapter runs.
 */

export interface Queryable {
  /** Runs one statement with positional parameters ($1, $2, ...) and returns its rows. */
  query<Row extends object = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
