/**
 * Daily partitions of `usage_records` (declarative range partitioning on `requested_at`, UTC
 * days), created ahead of time, and retention by dropping whole partitions: a day past the
 * retention period goes with one `DROP TABLE`, with no row-by-row DELETE to bloat the table or
 * its indexes (PostgreSQL manual, "Table Partitioning", 5.12.2.2 "Partition Maintenance").
 *
 * Every replica runs the maintenance at start and then hourly; an advisory lock keyed by the
 * schema makes them take turns, and every step is idempotent. The same SQL runs on PGlite.
 */
import type { Logger } from 'pino';
import type { Database, Queryable } from '../storage/database.ts';

const dayMs = 86_400_000;
const partitionPattern = /^usage_records_p(\d{4})(\d{2})(\d{2})$/;
const parent = 'usage_records';
const defaultPartition = 'usage_records_default';

export interface PartitionMaintenanceOptions {
  /** Days after today that get a partition in advance (default 3). */
  aheadDays?: number;
  /** Days of records kept; older whole days are dropped. 0 keeps everything. */
  retentionDays: number;
  now?: Date;
}

export interface PartitionMaintenanceReport {
  /** Partitions created, by name. */
  readonly created: string[];
  /** Partitions dropped by retention, by name. */
  readonly dropped: string[];
  /** Rows moved out of the default partition into the partition of their day. */
  readonly moved: number;
  /** Rows of the default partition deleted because they were past retention. */
  readonly expiredFromDefault: number;
}

/** UTC midnight of the day containing `time`. */
export function dayStart(time: Date): Date {
  return new Date(Math.floor(time.getTime() / dayMs) * dayMs);
}

export function partitionName(day: Date): string {
  return `${parent}_p${day.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** The day a partition name stands for, or undefined for a table that is not a day partition. */
export function partitionDay(name: string): Date | undefined {
  const match = partitionPattern.exec(name);
  return match === null ? undefined : new Date(`${match[1]}-${match[2]}-${match[3]}T00:00:00Z`);
}

export async function maintainUsagePartitions(
  database: Database,
  options: PartitionMaintenanceOptions,
): Promise<PartitionMaintenanceReport> {
  const aheadDays = options.aheadDays ?? 3;
  const today = dayStart(options.now ?? new Date());
  const cutoff =
    options.retentionDays > 0 ? new Date(today.getTime() - options.retentionDays * dayMs) : undefined;
  return database.transaction(async (transaction) => {
    await transaction.query(
      `SELECT pg_advisory_xact_lock(hashtext('odock-server.usage-partitions:' || coalesce(current_schema(), '')))`,
    );
    // DROP and CREATE take a brief exclusive lock on the parent. Waiting behind a long export
    // would hold every usage INSERT behind this transaction; give up instead, retry next hour.
    await transaction.query(`SET LOCAL lock_timeout = '2s'`);

    const existing = new Set(await listPartitions(transaction));
    const wanted = new Map<string, Date>();
    for (let offset = -1; offset <= aheadDays; offset += 1) {
      const day = new Date(today.getTime() + offset * dayMs);
      wanted.set(partitionName(day), day);
    }
    // Rows that landed in the default partition (a day without a partition) get theirs too.
    const strayDays = await transaction.query<{ day: Date }>(
      `SELECT DISTINCT date_bin('1 day', requested_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS day FROM ${defaultPartition}`,
    );
    for (const { day } of strayDays) {
      if (cutoff === undefined || day.getTime() >= cutoff.getTime()) wanted.set(partitionName(day), day);
    }

    const created: string[] = [];
    let moved = 0;
    for (const [name, day] of [...wanted].sort(([left], [right]) => left.localeCompare(right))) {
      if (existing.has(name)) continue;
      moved += await createPartition(transaction, name, day);
      created.push(name);
    }

    const dropped: string[] = [];
    let expiredFromDefault = 0;
    if (cutoff !== undefined) {
      for (const name of existing) {
        const day = partitionDay(name);
        if (day !== undefined && day.getTime() + dayMs <= cutoff.getTime()) {
          await transaction.query(`DROP TABLE ${name}`);
          dropped.push(name);
        }
      }
      // Only stray rows can be here; a DELETE of those few is not the bloat retention avoids.
      const expired = await transaction.query(
        `DELETE FROM ${defaultPartition} WHERE requested_at < $1 RETURNING 1 AS gone`,
        [cutoff],
      );
      expiredFromDefault = expired.length;
    }
    return { created, dropped, moved, expiredFromDefault };
  });
}

async function listPartitions(database: Queryable): Promise<string[]> {
  const rows = await database.query<{ name: string }>(
    `SELECT child.relname AS name FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid
     WHERE i.inhparent = '${parent}'::regclass`,
  );
  return rows.map((row) => row.name).filter((name) => partitionPattern.test(name));
}

/**
 * Creates the partition of `day`. When the default partition holds rows of that day, PostgreSQL
 * refuses to create the partition over them, so they are moved in first: the table is built
 * detached, filled, emptied from the default partition, then attached.
 */
async function createPartition(database: Queryable, name: string, day: Date): Promise<number> {
  // Literals, not parameters: DDL takes no parameters. Both come from a Date, never from input.
  const from = `'${day.toISOString()}'`;
  const to = `'${new Date(day.getTime() + dayMs).toISOString()}'`;
  const stray = await database.query(
    `SELECT 1 FROM ${defaultPartition} WHERE requested_at >= ${from} AND requested_at < ${to} LIMIT 1`,
  );
  if (stray.length === 0) {
    await database.query(`CREATE TABLE ${name} PARTITION OF ${parent} FOR VALUES FROM (${from}) TO (${to})`);
    return 0;
  }
  await database.query(`CREATE TABLE ${name} (LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
  const rows = await database.query(
    `WITH moved AS (DELETE FROM ${defaultPartition} WHERE requested_at >= ${from} AND requested_at < ${to} RETURNING *)
     INSERT INTO ${name} SELECT * FROM moved RETURNING 1 AS row`,
  );
  await database.query(`ALTER TABLE ${parent} ATTACH PARTITION ${name} FOR VALUES FROM (${from}) TO (${to})`);
  return rows.length;
}

export interface PartitionScheduler {
  /** Runs the maintenance now (also what the timer calls); never rejects. */
  runNow(): Promise<PartitionMaintenanceReport | undefined>;
  stop(): void;
}

/** Runs the maintenance now, then every `intervalMs` (default one hour) on an unref'd timer. */
export function schedulePartitionMaintenance(
  database: Database,
  logger: Logger,
  options: Omit<PartitionMaintenanceOptions, 'now'> & { intervalMs?: number },
): PartitionScheduler {
  let running: Promise<PartitionMaintenanceReport | undefined> | undefined;
  const runNow = () => {
    running ??= maintainUsagePartitions(database, options)
      .then(
        (report) => {
          if (report.created.length + report.dropped.length + report.moved + report.expiredFromDefault > 0)
            logger.info(
              {
                created: report.created,
                dropped: report.dropped,
                moved: report.moved,
                expired_from_default: report.expiredFromDefault,
              },
              'usage partitions maintained',
            );
          return report;
        },
        (error: unknown) => {
          logger.error({ err: error }, 'usage partition maintenance failed; retrying at the next run');
          return undefined;
        },
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(runNow, options.intervalMs ?? 3_600_000);
  timer.unref();
  return { runNow, stop: () => clearInterval(timer) };
}
