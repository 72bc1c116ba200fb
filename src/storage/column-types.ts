/**
 * How column values come back from both SQL adapters. The two drivers disagree by default
 * (PGlite returns int8 as a number when it fits, `pg` as a string; `date` is a Date in one and a
 * local-midnight Date in the other), so each adapter installs the parsers below and the
 * contract suite checks they agree:
 *
 * - int8 (bigint) and int8[]: JS `bigint`, because nano-USD amounts exceed 2^53.
 * - timestamptz: `Date` (millisecond precision; microseconds are dropped by both drivers).
 * - timestamp (without time zone): `Date`, read as UTC.
 * - date: the `YYYY-MM-DD` text, because a calendar day has no instant.
 * - numeric: string (exact), json/jsonb: parsed value, int2/int4: number, bool: boolean.
 *
 * Parameters go the other way: pass `bigint` or string for int8, `Date` for timestamps and a
 * JSON *string* for json/jsonb (with a `::jsonb` cast). `pg` turns a JS array parameter into a
 * Postgres array literal, not JSON, so objects must never be passed for json columns.
 */

export const columnTypeIds = {
  int8: 20,
  int8Array: 1016,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

/** Postgres `timestamp` text (`2024-01-01 12:00:00.123456`) read as a UTC instant. */
export function parseUtcTimestamp(text: string): Date {
  return new Date(`${text.replace(' ', 'T')}Z`);
}

/** A schema name safe to interpolate as an identifier (both adapters refuse anything else). */
export function assertSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TypeError(`invalid schema name "${schema}": use lowercase letters, digits and "_"`);
  }
  return schema;
}
