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
  /**
   * `COPY target FROM STDIN` in PostgreSQL's text format: `text` is the whole input, lines of
   * tab-separated values ending in a newline (`\N` for NULL; backslash, tab, newline and
   * carriage return inside a value escaped with a backslash). `target` is a table and its column
   * list, e.g. `usage_records (id, request_id)`. The cheapest way to load many rows: the server
   * parses no SQL and no JSON per row. The input comes as one string or as pieces of its UTF-8
   * bytes, in order (sent as they are, with no copy made of them).
   */
  copyFrom(target: string, input: CopyInput): Promise<void>;
}

/** The input of a COPY: its text, or its UTF-8 bytes in pieces to send one after the other. */
export type CopyInput = string | readonly Uint8Array[];

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
