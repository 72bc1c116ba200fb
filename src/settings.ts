/**
 * Process settings from the environment, validated once at start. An invalid value stops
 * start-up with a line naming the variable; it is never silently replaced by a default.
 * (The observability variables of the telemetry contract join this file with the telemetry issue.)
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError, formatIssues } from './config/load.ts';
import { defaultListenBacklog } from './http/listen-backlog.ts';

const defaultConfigPath = fileURLToPath(new URL('../config/odock.example.yaml', import.meta.url));

const integer = (minimum: number, maximum: number) => z.coerce.number().int().min(minimum).max(maximum);
const url = (protocols: readonly string[]) =>
  z
    .string()
    .refine(
      (value) => URL.canParse(value) && protocols.includes(new URL(value).protocol),
      `must be a ${protocols.join(' or ')} URL`,
    );

const settingsSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer(0, 65535).default(8080),
  ODOCK_LISTEN_BACKLOG: integer(1, 1_000_000).default(defaultListenBacklog),
  ODOCK_CONFIG: z.string().min(1).default(defaultConfigPath),
  ODOCK_DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  ODOCK_MAX_BODY_BYTES: integer(1024, 1024 * 1024 * 1024).default(10 * 1024 * 1024),
  ODOCK_SHUTDOWN_TIMEOUT_MS: integer(0, 600_000).default(30_000),
  ODOCK_UPSTREAM_CONNECT_TIMEOUT_MS: integer(1, 600_000).default(10_000),
  ODOCK_UPSTREAM_MAX_CONNECTIONS: integer(0, 1_000_000).default(0),
  ODOCK_AUTH_CACHE_TTL_MS: integer(0, 3_600_000).default(5_000),
  ODOCK_MEMORY_LIMIT_MB: integer(0, 16 * 1024 * 1024).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Settings {
  readonly host: string;
  readonly port: number;
  /**
   * Connections the kernel queues for the gateway to accept (the kernel caps it at
   * `net.core.somaxconn`). Node's own default, 511, turns a burst of new connections that
   * arrives while the event loop is busy into dropped SYNs, which clients retry after a second.
   */
  readonly listenBacklog: number;
  readonly configPath: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly maxBodyBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  /** Connections per provider origin at most; 0 means no cap (a stream holds one for its whole length). */
  readonly upstreamMaxConnections: number;
  /** How long a looked-up key stays cached in process; revocation takes effect within this time. */
  readonly authCacheTtlMs: number;
  /**
   * Soft memory limit of the process in MiB (src/memory-limit.ts); 0 turns it off. Unset: 80 % of
   * the process's own memory limit (a container's), if it has one.
   */
  readonly memoryLimitMb: number | undefined;
  readonly logLevel: z.infer<typeof settingsSchema>['LOG_LEVEL'];
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  // An empty variable counts as unset, as in most shells' `VAR= cmd` idiom.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = settingsSchema.safeParse(present);
  if (!result.success) throw new ConfigError('environment', formatIssues(result.error.issues));
  const values = result.data;
  return Object.freeze({
    host: values.HOST,
    port: values.PORT,
    listenBacklog: values.ODOCK_LISTEN_BACKLOG,
    configPath: values.ODOCK_CONFIG,
    dataDir: values.ODOCK_DATA_DIR,
    databaseUrl: values.DATABASE_URL,
    redisUrl: values.REDIS_URL,
    maxBodyBytes: values.ODOCK_MAX_BODY_BYTES,
    shutdownTimeoutMs: values.ODOCK_SHUTDOWN_TIMEOUT_MS,
    upstreamConnectTimeoutMs: values.ODOCK_UPSTREAM_CONNECT_TIMEOUT_MS,
    upstreamMaxConnections: values.ODOCK_UPSTREAM_MAX_CONNECTIONS,
    authCacheTtlMs: values.ODOCK_AUTH_CACHE_TTL_MS,
    memoryLimitMb: values.ODOCK_MEMORY_LIMIT_MB,
    logLevel: values.LOG_LEVEL,
  });
}
