/**
 * The usage capability as the composition root wires it: partition maintenance, the collector
 * (the `usage` lifecycle stage) and what the read API needs (the database and the admin-key
 * authenticator). `drain` is called on shutdown after the HTTP drain and before the stores close.
 */
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/load.ts';
import type { MetricsRecorder } from '../observability/metrics.ts';
import type { Database } from '../storage/database.ts';
import { AdminAuthenticator } from './admin-keys.ts';
import { type DrainResult, UsageCollector, type UsageCollectorOptions } from './usage-collector.ts';
import { type PartitionScheduler, schedulePartitionMaintenance } from './usage-partitions.ts';
import { loadUsageSettings, type UsageSettings } from './usage-settings.ts';

/** What the read API routes need. */
export interface UsageApi {
  readonly database: Database;
  readonly admin: AdminAuthenticator;
  readonly logger: Logger;
}

export interface UsageService {
  readonly collector: UsageCollector;
  readonly api: UsageApi;
  readonly settings: UsageSettings;
  readonly partitions: PartitionScheduler;
  /** Writes every queued record (up to ODOCK_USAGE_DRAIN_TIMEOUT_MS) and stops the collector. */
  drain(): Promise<DrainResult>;
  /** Stops the maintenance timer (after `drain`, or when start-up fails). */
  close(): Promise<void>;
}

export interface UsageServiceOptions {
  /** The gateway's database, migrated. */
  database: Database;
  config: RuntimeConfig;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  metrics?: MetricsRecorder;
  /** Overrides of the collector options (benchmarks, tests). */
  collector?: Partial<Omit<UsageCollectorOptions, 'database' | 'logger'>>;
}

export async function startUsageService(options: UsageServiceOptions): Promise<UsageService> {
  const settings = loadUsageSettings(options.env);
  const admin = AdminAuthenticator.fromConfig(options.config, options.env);
  const partitions = schedulePartitionMaintenance(options.database, options.logger, {
    retentionDays: settings.retentionDays,
    aheadDays: settings.partitionsAheadDays,
  });
  // Before the first request: today's partition exists (a failure is logged; rows then wait in
  // the default partition and are moved into theirs by the next successful run).
  await partitions.runNow();
  const collector = new UsageCollector({
    database: options.database,
    logger: options.logger,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    queueCapacity: settings.queueCapacity,
    batchSize: settings.batchSize,
    flushIntervalMs: settings.flushIntervalMs,
    publisher: options.database.kind,
    ...options.collector,
  });
  let drained: Promise<DrainResult> | undefined;
  return {
    collector,
    api: { database: options.database, admin, logger: options.logger },
    settings,
    partitions,
    drain: () => {
      drained ??= collector.drain(settings.drainTimeoutMs);
      return drained;
    },
    close: async () => {
      partitions.stop();
    },
  };
}
