/**
 * Reads, validates and freezes the gateway configuration once at start.
 * Every problem is reported together, each with its path (`models.2.provider: unknown provider "x"`),
 * so an operator fixes the file in one pass.
 */
import { hash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import {
  type GatewayConfig,
  gatewayConfigSchema,
  type ModelType,
  type ProviderType,
  type TokenPriceClass,
} from './schema.ts';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration in ${source}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface ResolvedProvider {
  readonly name: string;
  readonly type: ProviderType;
  /** Absolute base URL; "builtin-mock" is replaced by the in-process mock's URL at composition time. */
  readonly baseUrl: string;
  readonly apiKeyEnv: string | undefined;
  /** The credential read from `api_key_env` at start, or undefined when the variable is unset. */
  readonly apiKey: string | undefined;
  readonly enabled: boolean;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ResolvedModel {
  readonly name: string;
  readonly type: ModelType;
  readonly upstreamModel: string;
  readonly timeoutMs: number;
  readonly provider: ResolvedProvider;
  /** Nano-USD per million tokens, per class: integers, so cost arithmetic never drifts. */
  readonly pricing: Readonly<Partial<Record<TokenPriceClass, bigint>>>;
}

export interface ResolvedApiKey {
  readonly id: string;
  readonly organizationId: string;
  readonly teamId: string | null;
  readonly userId: string | null;
  /** Hex SHA-256 of the key; undefined when `secret_env` names an unset variable (the key is then not synced). */
  readonly keyHash: string | undefined;
  readonly expiresAt: Date | null;
  readonly revoked: boolean;
  readonly models: readonly string[];
}

export interface RuntimeConfig {
  readonly source: string;
  readonly document: Readonly<GatewayConfig>;
  readonly providers: ReadonlyMap<string, ResolvedProvider>;
  readonly models: ReadonlyMap<string, ResolvedModel>;
  readonly apiKeys: readonly ResolvedApiKey[];
}

/** SHA-256 in hex, one native call (`crypto.hash`: no Hash object per request). */
export function hashApiKey(secret: string): string {
  return hash('sha256', secret, 'hex');
}

const nanosPerUsd = 1_000_000_000n;

/**
 * Converts a USD amount into integer nano-USD. A string is read digit by digit, so it is exact
 * (digits past the ninth decimal are dropped). A number is a binary double (`0.1 + 0.2` is
 * 0.30000000000000004), so it is rounded to the nearest nano: written prices never carry more
 * than 9 decimals, and rounding recovers the decimal the author typed.
 */
export function usdToNanos(amount: number | string): bigint {
  if (typeof amount === 'number') {
    if (!Number.isFinite(amount) || amount < 0) throw new RangeError(`not a USD amount: ${amount}`);
    // toFixed switches to exponent notation from 1e21; doubles that large are whole numbers anyway.
    if (amount >= 1e21) return BigInt(amount) * nanosPerUsd;
    return usdToNanos(amount.toFixed(9));
  }
  const match = /^(\d+)(?:\.(\d+))?$/.exec(amount);
  if (match === null) throw new RangeError(`not a USD amount: "${amount}"`);
  const [, whole = '0', fraction = ''] = match;
  return BigInt(whole) * nanosPerUsd + BigInt(fraction.padEnd(9, '0').slice(0, 9));
}

export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RuntimeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [`cannot read file: ${(error as Error).message}`]);
  }
  return parseConfig(text, path, env);
}

export function parseConfig(
  text: string,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
): RuntimeConfig {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => `yaml: ${error.message.split('\n')[0]}`),
    );
  }
  const result = gatewayConfigSchema.safeParse(document.toJS() ?? {});
  if (!result.success) throw new ConfigError(source, formatIssues(result.error.issues));
  return resolve(result.data, source, env);
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map(
    (issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`,
  );
}

function resolve(config: GatewayConfig, source: string, env: NodeJS.ProcessEnv): RuntimeConfig {
  const providers = new Map<string, ResolvedProvider>();
  for (const entry of config.providers) {
    providers.set(
      entry.name,
      Object.freeze({
        name: entry.name,
        type: entry.type,
        baseUrl: entry.base_url.replace(/\/+$/, ''),
        apiKeyEnv: entry.api_key_env,
        apiKey: entry.api_key_env === undefined ? undefined : env[entry.api_key_env] || undefined,
        enabled: entry.enabled,
        headers: Object.freeze({ ...entry.headers }),
      }),
    );
  }
  const models = new Map<string, ResolvedModel>();
  for (const entry of config.models) {
    const pricing: Partial<Record<TokenPriceClass, bigint>> = {};
    for (const [tokenClass, amount] of Object.entries(entry.pricing)) {
      if (amount !== undefined) pricing[tokenClass as TokenPriceClass] = usdToNanos(amount);
    }
    models.set(
      entry.name,
      Object.freeze({
        name: entry.name,
        type: entry.type,
        upstreamModel: entry.upstream_model,
        timeoutMs: entry.timeout_ms,
        provider: providers.get(entry.provider)!,
        pricing: Object.freeze(pricing),
      }),
    );
  }
  const apiKeys = config.api_keys.map((entry) => {
    const secret = entry.secret_env === undefined ? undefined : env[entry.secret_env];
    return Object.freeze({
      id: entry.id,
      organizationId: entry.organization,
      teamId: entry.team ?? null,
      userId: entry.user ?? null,
      keyHash: entry.secret_sha256 ?? (secret ? hashApiKey(secret) : undefined),
      expiresAt: entry.expires_at === undefined ? null : new Date(entry.expires_at),
      revoked: entry.revoked,
      models: Object.freeze([...entry.models]),
    });
  });
  return Object.freeze({
    source,
    document: deepFreeze(config),
    providers: freezeMap(providers),
    models: freezeMap(models),
    apiKeys: Object.freeze(apiKeys),
  });
}

/**
 * Object.freeze does not stop Map#set; the configuration is shared by every request, so a stray
 * write must fail loudly instead of silently changing routing for everyone.
 */
export function freezeMap<K, V>(map: Map<K, V>): ReadonlyMap<K, V> {
  const refuse = (): never => {
    throw new TypeError('the runtime configuration is frozen');
  };
  Object.defineProperties(map, {
    set: { value: refuse },
    delete: { value: refuse },
    clear: { value: refuse },
  });
  return Object.freeze(map);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
