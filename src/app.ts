/**
 * The composition root: the one place that wires real adapters to ports (embedded PGlite or
 * Postgres, process memory or Redis, the upstream client, the in-process mock upstream for
 * `builtin-mock` providers) and starts the HTTP server. Everything else receives its
 * dependencies from here.
 */
import type { KeyValueStore } from './cache/key-value-store.ts';
import { openKeyValueStore } from './cache/open-key-value-store.ts';
import {
  freezeMap,
  loadConfigFile,
  type ResolvedModel,
  type ResolvedProvider,
  type RuntimeConfig,
} from './config/load.ts';
import { Authenticator } from './gateway/authenticate.ts';
import type { GatewayServices } from './gateway/lifecycle.ts';
import { ProviderCaller } from './gateway/provider-call.ts';
import { type GatewayStages, passThroughStages } from './gateway/stages.ts';
import { chatCompletionsRoute } from './http/routes/chat-completions.ts';
import { embeddingsRoute } from './http/routes/embeddings.ts';
import { healthRoutes } from './http/routes/health.ts';
import { messagesRoute } from './http/routes/messages.ts';
import { metricsRoute } from './http/routes/metrics.ts';
import { modelsRoute } from './http/routes/models.ts';
import { unifiedChatRoute } from './http/routes/unified-chat.ts';
import { usageRoutes } from './http/routes/usage-records.ts';
import { HttpServer } from './http/server.ts';
import type { MockUpstream } from './mock-upstream/server.ts';
import { loadObservabilitySettings } from './observability/observability-settings.ts';
import { startTelemetry, type Telemetry } from './observability/telemetry.ts';
import type { Settings } from './settings.ts';
import type { GatewayStore } from './storage/gateway-store.ts';
import { openDatabase } from './storage/open-database.ts';
import { createSqlGatewayStore } from './storage/sql-gateway-store.ts';
import { UpstreamClient } from './upstream/upstream-client.ts';
import { startUsageService, type UsageService } from './usage/usage-service.ts';

export interface GatewayOptions {
  settings: Settings;
  /** Replaces stdout as the log destination (tests capture the log stream). */
  logStream?: NodeJS.WritableStream;
  /** Replaces pass-through lifecycle stages (later capabilities and tests plug in here). */
  stages?: Partial<GatewayStages>;
  /** Environment used to resolve credential variables of the config file. */
  env?: NodeJS.ProcessEnv;
  /** Postgres schema for the gateway's tables (tests isolate runs with it). */
  databaseSchema?: string;
  /** Key prefix in the key-value store (tests isolate runs with it). */
  keyPrefix?: string;
}

export interface RunningGateway {
  readonly url: string;
  readonly services: GatewayServices;
  readonly store: GatewayStore;
  readonly keyValueStore: KeyValueStore;
  readonly mockUpstream: MockUpstream | undefined;
  readonly http: HttpServer;
  readonly telemetry: Telemetry;
  /** Usage records: the collector (the `usage` stage) and the read API's dependencies. */
  readonly usage: UsageService;
  /** Stops accepting, drains in-flight requests up to the shutdown deadline, closes stores. */
  close(): Promise<{ drained: boolean }>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { settings } = options;
  const observability = loadObservabilitySettings(options.env ?? process.env);
  let config = await loadConfigFile(settings.configPath, options.env ?? process.env);
  const telemetry = await startTelemetry({
    settings: observability,
    logLevel: settings.logLevel,
    version: observability.resource['service.version'] ?? 'dev',
    ...(options.logStream === undefined ? {} : { stdout: options.logStream }),
  });
  const { logger, metrics } = telemetry;

  // Closed in reverse order of opening; telemetry goes last so shutdown itself is logged.
  const opened: Array<() => Promise<void>> = [() => telemetry.close()];
  const closeOpened = async () => {
    for (const close of opened.reverse()) await close().catch(() => {});
  };
  try {
    let mockUpstream: MockUpstream | undefined;
    if ([...config.providers.values()].some((provider) => provider.baseUrl === 'builtin-mock')) {
      // Loaded only when the configuration names it: a production gateway never compiles it.
      const { startMockUpstream } = await import('./mock-upstream/server.ts');
      const mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
      mockUpstream = mock;
      opened.push(() => mock.close());
      config = bindBuiltinMock(config, mock.url);
    }

    const database = await openDatabase({
      databaseUrl: settings.databaseUrl,
      dataDir: settings.dataDir,
      ...(options.databaseSchema === undefined ? {} : { schema: options.databaseSchema }),
    });
    const store = createSqlGatewayStore(database);
    opened.push(() => store.close());
    await store.migrate();
    const synced = await store.syncConfig(config);
    const usage = await startUsageService({
      database,
      config,
      logger,
      metrics,
      env: options.env ?? process.env,
    });
    opened.push(() => usage.close());

    const keyValueStore = await openKeyValueStore({
      redisUrl: settings.redisUrl,
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
    });
    opened.push(() => keyValueStore.close());

    const upstream = new UpstreamClient({
      connectTimeoutMs: settings.upstreamConnectTimeoutMs,
      connections: settings.upstreamMaxConnections === 0 ? undefined : settings.upstreamMaxConnections,
    });
    opened.push(() => upstream.close());

    const authenticator = new Authenticator({ store, cacheTtlMs: settings.authCacheTtlMs, metrics });
    opened.push(async () => authenticator.close());

    const services: GatewayServices = {
      settings,
      config,
      logger,
      metrics,
      authenticator,
      stages: { ...passThroughStages(), usage: usage.collector, ...options.stages },
      provider: new ProviderCaller(upstream),
      readiness: () => readiness({ database: () => store.ping(), cache: () => keyValueStore.ping() }),
    };
    const http: HttpServer = new HttpServer({
      logger,
      routes: [
        chatCompletionsRoute(services),
        embeddingsRoute(services),
        messagesRoute(services),
        unifiedChatRoute(services),
        modelsRoute(services),
        ...healthRoutes(services, (): boolean => http.closing),
        metricsRoute(telemetry.registry),
        ...usageRoutes(usage.api),
      ],
      onRequestStart: (context, request) =>
        telemetry.requestStarted(context, request.method ?? 'GET', request.headers),
      onRequestEnd: (context) => {
        telemetry.requestEnded(context);
        services.stages.usage.record(context);
      },
    });
    const address = await http.listen(settings.port, settings.host, settings.listenBacklog);
    const url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    logger.info(
      {
        url,
        database: database.kind,
        cache: keyValueStore.kind,
        config: settings.configPath,
        models: config.models.size,
        synced,
      },
      'odock-server listening',
    );

    let closing: Promise<{ drained: boolean }> | undefined;
    return {
      url,
      services,
      store,
      keyValueStore,
      mockUpstream,
      http,
      telemetry,
      usage,
      close: () => {
        closing ??= (async () => {
          const drained = await http.close(settings.shutdownTimeoutMs);
          if (!drained) await upstream.destroy();
          // Every response is over: write the records still queued before the stores close.
          await usage.drain();
          // Logged before the stores close: telemetry closes last and flushes this line.
          logger.info({ drained, in_flight: http.inFlight }, 'odock-server stopped');
          await closeOpened();
          return { drained };
        })();
        return closing;
      },
    };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}

/** Points `builtin-mock` providers at the in-process mock, at the path each family expects. */
export function bindBuiltinMock(config: RuntimeConfig, mockUrl: string): RuntimeConfig {
  const providers = new Map<string, ResolvedProvider>();
  for (const [name, provider] of config.providers) {
    const baseUrl =
      provider.baseUrl !== 'builtin-mock'
        ? provider.baseUrl
        : provider.type === 'openai'
          ? `${mockUrl}/v1`
          : mockUrl;
    providers.set(name, Object.freeze({ ...provider, baseUrl }));
  }
  const models = new Map<string, ResolvedModel>();
  for (const [name, model] of config.models) {
    models.set(name, Object.freeze({ ...model, provider: providers.get(model.provider.name)! }));
  }
  return Object.freeze({ ...config, providers: freezeMap(providers), models: freezeMap(models) });
}

const readinessTimeoutMs = 2_000;

async function readiness(checks: Record<string, () => Promise<void>>) {
  const results: Record<string, 'ok' | 'failed'> = {};
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), readinessTimeoutMs);
      });
      try {
        await Promise.race([check(), timeout]);
        results[name] = 'ok';
      } catch {
        results[name] = 'failed';
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: Object.values(results).every((result) => result === 'ok'), checks: results };
}
