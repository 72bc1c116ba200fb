/**
 * The ODOCK_USAGE_* environment variables, validated once at start like the other process
 * settings: an invalid value stops start-up with a line naming the variable.
 */
import { z } from 'zod';
import { ConfigError, formatIssues } from '../config/load.ts';

const integer = (minimum: number, maximum: number) => z.coerce.number().int().min(minimum).max(maximum);

const usageSettingsSchema = z.object({
  ODOCK_USAGE_QUEUE_CAPACITY: integer(1, 10_000_000).default(10_000),
  ODOCK_USAGE_BATCH_SIZE: integer(1, 10_000).default(500),
  ODOCK_USAGE_FLUSH_INTERVAL_MS: integer(1, 60_000).default(200),
  ODOCK_USAGE_DRAIN_TIMEOUT_MS: integer(0, 600_000).default(10_000),
  ODOCK_USAGE_RETENTION_DAYS: integer(0, 36_500).default(90),
  ODOCK_USAGE_PARTITIONS_AHEAD_DAYS: integer(1, 366).default(3),
});

export interface UsageSettings {
  /** Records held in memory while waiting to be written; beyond it records are lost and counted. */
  readonly queueCapacity: number;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  /** On shutdown, how long the collector keeps trying to write what is queued. */
  readonly drainTimeoutMs: number;
  /** Whole days of records kept; 0 keeps everything. */
  readonly retentionDays: number;
  readonly partitionsAheadDays: number;
}

export function loadUsageSettings(env: NodeJS.ProcessEnv = process.env): UsageSettings {
  const present = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => name.startsWith('ODOCK_USAGE_') && value !== ''),
  );
  const result = usageSettingsSchema.safeParse(present);
  if (!result.success) throw new ConfigError('environment', formatIssues(result.error.issues));
  const values = result.data;
  return Object.freeze({
    queueCapacity: values.ODOCK_USAGE_QUEUE_CAPACITY,
    batchSize: values.ODOCK_USAGE_BATCH_SIZE,
    flushIntervalMs: values.ODOCK_USAGE_FLUSH_INTERVAL_MS,
    drainTimeoutMs: values.ODOCK_USAGE_DRAIN_TIMEOUT_MS,
    retentionDays: values.ODOCK_USAGE_RETENTION_DAYS,
    partitionsAheadDays: values.ODOCK_USAGE_PARTITIONS_AHEAD_DAYS,
  });
}
