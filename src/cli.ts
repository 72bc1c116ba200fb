/**
 * The `odock-server` command line: `serve` (default), `migrate`, `keys create|list|revoke`,
 * `mock-upstream`, `config schema|check`, `usage ...`, `prepare`.
 */
import { randomBytes } from 'node:crypto';
import { constants, enableCompileCache, flushCompileCache } from 'node:module';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError, hashApiKey, loadConfigFile } from './config/load.ts';
import { type MemoryLimiter, memoryLimitBytes, startMemoryLimit } from './memory-limit.ts';
import { loadSettings } from './settings.ts';

const usage = `usage: odock-server [command]

commands:
  serve                     start the gateway (default)
  migrate                   apply database migrations and sync the config file
  keys create --org ID [--id ID] [--team ID] [--user ID] [--models a,b|*] [--expires-in DAYS]
                            mint a virtual API key; the key is printed once, only its hash is stored
  keys list [--org ID]      list keys (never their secrets)
  keys revoke --id ID       revoke a key
  mock-upstream [--port N]  run the mock OpenAI/Anthropic/Gemini upstream (see --help)
  config schema [--write]   print (or write config/odock.schema.json) the config JSON Schema
  config check [PATH]       validate a config file and report every problem
  usage tail|export|admin-key  follow or export usage records, mint an admin key (see usage --help)
  prepare                   fill Node's compile cache (NODE_COMPILE_CACHE) so that starts load no
                            TypeScript compiler: about 18 MiB less memory; the Docker image runs it
`;

export async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'migrate':
      return migrate();
    case 'keys':
      return keys(rest);
    case 'mock-upstream': {
      // Each command loads only what it needs: `config check` must work without a database.
      const { runMockUpstreamCli } = await import('./mock-upstream/cli.ts');
      await runMockUpstreamCli(rest);
      return -1;
    }
    case 'usage': {
      const { runUsageCli } = await import('./usage/usage-cli.ts');
      return runUsageCli(rest);
    }
    case 'config': {
      const { runConfigCli } = await import('./config/json-schema.ts');
      return runConfigCli(rest);
    }
    case 'prepare':
      return prepare();
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}

async function serve(): Promise<number> {
  const { startGateway } = await import('./app.ts');
  const settings = loadSettings();
  const gateway = await startGateway({ settings });
  const memory = startProcessMemoryLimit(settings.memoryLimitMb, gateway.services.logger);
  // Every module a start needs is loaded: write their compiled code now rather than at exit, so
  // the next start is warm even if this process is killed (a no-op without the cache).
  flushCompileCache();
  const stop = (signal: string) => {
    gateway.services.logger.info({ signal }, 'shutdown requested: draining in-flight requests');
    memory?.stop();
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.services.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1;
}

/**
 * The process's soft memory limit (src/memory-limit.ts), started by `serve` only: it sets a V8
 * flag for the whole process, which gateways started inside a test's process must not do.
 */
function startProcessMemoryLimit(
  configuredMb: number | undefined,
  logger: Logger,
): MemoryLimiter | undefined {
  const limitBytes = memoryLimitBytes(configuredMb);
  if (limitBytes === undefined) return undefined;
  const limit_mib = Math.round(limitBytes / 1024 / 1024);
  logger.info({ limit_mib }, 'memory soft limit set');
  return startMemoryLimit({
    limitBytes,
    onChange: (heap_growing_percent, previous, rss) => {
      const fields = { limit_mib, rss_mib: Math.round(rss / 1024 / 1024), heap_growing_percent };
      // The moves in between are many under pressure: the two ends are what an operator needs.
      if (previous === 0) logger.info(fields, 'memory soft limit: heap growth bounded');
      else if (heap_growing_percent === 0)
        logger.info(fields, 'memory soft limit: heap growth as started again');
      else logger.debug(fields, 'memory soft limit: heap growth changed');
    },
  });
}

/**
 * Loads every module a gateway start can need (the embedded store and the built-in mock
 * upstream included) with Node's compile cache on, and writes the cache. Run through the package
 * bin (`bin/odock-server.js`, which turns the cache on before any TypeScript is read): run as
 * `node src/cli.ts prepare`, this file and its static imports are stripped before the cache is
 * on and stay out of it.
 */
async function prepare(): Promise<number> {
  const cache = enableCompileCache();
  if (
    cache.status !== constants.compileCacheStatus.ENABLED &&
    cache.status !== constants.compileCacheStatus.ALREADY_ENABLED
  ) {
    process.stderr.write(`prepare: the compile cache could not be enabled: ${cache.message ?? 'disabled'}\n`);
    return 1;
  }
  await import('./app.ts');
  await import('./storage/pglite-database.ts');
  await import('./mock-upstream/server.ts');
  flushCompileCache();
  process.stdout.write(`compile cache ready in ${cache.directory}\n`);
  return 0;
}

async function openStore() {
  const settings = loadSettings();
  const config = await loadConfigFile(settings.configPath);
  const { openDatabase } = await import('./storage/open-database.ts');
  const { createSqlGatewayStore } = await import('./storage/sql-gateway-store.ts');
  const database = await openDatabase({ databaseUrl: settings.databaseUrl, dataDir: settings.dataDir });
  const store = createSqlGatewayStore(database);
  await store.migrate();
  return { config, store };
}

async function migrate(): Promise<number> {
  const { config, store } = await openStore();
  try {
    const report = await store.syncConfig(config);
    process.stdout.write(`migrations applied; config synced: ${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

async function keys(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      org: { type: 'string' },
      id: { type: 'string' },
      team: { type: 'string' },
      user: { type: 'string' },
      models: { type: 'string', default: '*' },
      'expires-in': { type: 'string' },
    },
  });
  if (action !== 'create' && action !== 'list' && action !== 'revoke') {
    process.stderr.write(`unknown keys action "${action ?? ''}"\n\n${usage}`);
    return 2;
  }
  const { config, store } = await openStore();
  try {
    await store.syncConfig(config);
    if (action === 'list') {
      for (const key of await store.listApiKeys(values.org)) {
        const state = key.revokedAt
          ? 'revoked'
          : key.expiresAt && key.expiresAt <= new Date()
            ? 'expired'
            : 'active';
        process.stdout.write(
          `${key.id}\t${key.organizationId}\t${key.source}\t${state}\t${key.models.join(',')}\n`,
        );
      }
      return 0;
    }
    if (action === 'revoke') {
      if (values.id === undefined) throw new ConfigError('arguments', ['--id is required']);
      const revoked = await store.revokeApiKey(values.id);
      process.stdout.write(revoked ? `revoked ${values.id}\n` : `no active key ${values.id}\n`);
      return revoked ? 0 : 1;
    }
    const problems: string[] = [];
    const organization = values.org;
    if (organization === undefined) problems.push('--org is required');
    else if (!config.document.organizations.some((entry) => entry.id === organization))
      problems.push(`--org: unknown organization "${organization}"`);
    if (
      values.team !== undefined &&
      !config.document.teams.some((entry) => entry.id === values.team && entry.organization === organization)
    )
      problems.push(`--team: no team "${values.team}" in organization "${organization}"`);
    if (
      values.user !== undefined &&
      !config.document.users.some((entry) => entry.id === values.user && entry.organization === organization)
    )
      problems.push(`--user: no user "${values.user}" in organization "${organization}"`);
    const models = values.models
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name.length > 0);
    for (const model of models)
      if (model !== '*' && !config.models.has(model)) problems.push(`--models: unknown model "${model}"`);
    if (models.length === 0) problems.push('--models: at least one model (or *) is required');
    let expiresAt: Date | null = null;
    if (values['expires-in'] !== undefined) {
      const days = Number(values['expires-in']);
      if (!Number.isFinite(days) || days <= 0)
        problems.push('--expires-in: must be a positive number of days');
      else expiresAt = new Date(Date.now() + days * 86_400_000);
    }
    if (problems.length > 0) throw new ConfigError('arguments', problems);
    const secret = `sk-odock-${randomBytes(24).toString('base64url')}`;
    const key = await store.createApiKey({
      id: values.id ?? `key-${randomBytes(6).toString('hex')}`,
      organizationId: organization!,
      teamId: values.team ?? null,
      userId: values.user ?? null,
      keyHash: hashApiKey(secret),
      expiresAt,
      models,
    });
    process.stderr.write(
      `created key ${key.id} for organization ${key.organizationId} (models: ${key.models.join(',')}${
        expiresAt ? `, expires ${expiresAt.toISOString()}` : ''
      }); it is shown once and cannot be recovered:\n`,
    );
    process.stdout.write(`${secret}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    // Operator mistakes (bad config, bad arguments) get their message; anything else its stack.
    const operatorError = error instanceof ConfigError || (error as Error)?.name === 'MockUpstreamUsageError';
    if (operatorError) process.stderr.write(`${(error as Error).message}\n`);
    else process.stderr.write(`odock-server: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
