/**
 * Organisation admin keys: the credential of the usage read API, distinct from the inference
 * keys. An admin key is declared in the configuration file (`admin_keys`, by SHA-256 or by the
 * name of a variable holding it), belongs to exactly one organisation and reads only that
 * organisation's records. It never reaches a model: admin keys are not in the inference key
 * store, the configuration refuses a secret declared as both, and the read API refuses
 * anything that is not an admin key.
 *
 * Secrets start with `sk-odock-admin-` so a person (and a secret scanner) can tell the two kinds
 * apart; the read API rejects any other prefix before hashing.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError, hashApiKey, type RuntimeConfig } from '../config/load.ts';
import { GatewayError } from '../errors.ts';

export const adminKeyPrefix = 'sk-odock-admin-';

export interface AdminPrincipal {
  readonly adminKeyId: string;
  readonly organizationId: string;
}

interface ResolvedAdminKey extends AdminPrincipal {
  readonly keyHash: string;
}

/** A new admin secret and the line to put in the configuration file. */
export function mintAdminKey(): { secret: string; sha256: string } {
  const secret = `${adminKeyPrefix}${randomBytes(24).toString('base64url')}`;
  return { secret, sha256: hashApiKey(secret) };
}

export class AdminAuthenticator {
  readonly #byHash: ReadonlyMap<string, ResolvedAdminKey>;

  constructor(keys: readonly ResolvedAdminKey[]) {
    this.#byHash = new Map(keys.map((key) => [key.keyHash, key]));
  }

  /**
   * Resolves the admin keys of the configuration. A `secret_env` variable that is unset leaves
   * its key unusable; a value without the admin prefix, or a secret shared with an inference
   * key, stops start-up (an admin secret that can also call models is a configuration error).
   */
  static fromConfig(config: RuntimeConfig, env: NodeJS.ProcessEnv): AdminAuthenticator {
    const problems: string[] = [];
    const inferenceHashes = new Set(config.apiKeys.map((key) => key.keyHash));
    const keys: ResolvedAdminKey[] = [];
    (config.document.admin_keys ?? []).forEach((entry, index) => {
      let keyHash = entry.secret_sha256;
      if (entry.secret_env !== undefined) {
        const secret = env[entry.secret_env];
        if (!secret) return;
        if (!secret.startsWith(adminKeyPrefix))
          problems.push(
            `admin_keys.${index}.secret_env: the value of ${entry.secret_env} must start with ${adminKeyPrefix}`,
          );
        keyHash = hashApiKey(secret);
      }
      if (keyHash === undefined) return;
      if (inferenceHashes.has(keyHash))
        problems.push(
          `admin_keys.${index}: the same secret is an API key; an admin key must have its own secret`,
        );
      keys.push({ adminKeyId: entry.id, organizationId: entry.organization, keyHash });
    });
    if (problems.length > 0) throw new ConfigError(config.source, problems);
    return new AdminAuthenticator(keys);
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** The admin principal of a request, or a 401 `unauthorized` (inference keys included). */
  authenticate(headers: IncomingHttpHeaders): AdminPrincipal {
    const secret = presentedSecret(headers);
    if (secret === undefined)
      throw new GatewayError(
        'unauthorized',
        'An organisation admin key is required (Authorization: Bearer).',
      );
    if (!secret.startsWith(adminKeyPrefix))
      throw new GatewayError(
        'unauthorized',
        `The usage API takes an organisation admin key (${adminKeyPrefix}...); API keys for models are refused.`,
      );
    // A map look-up by the full SHA-256: timing can reveal at most whether the hash of the
    // presented secret exists, which an attacker cannot steer towards a real key.
    const key = this.#byHash.get(hashApiKey(secret));
    if (key === undefined) throw new GatewayError('unauthorized', 'Invalid admin key.');
    return { adminKeyId: key.adminKeyId, organizationId: key.organizationId };
  }
}

function presentedSecret(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    // RFC 6750 section 2.1: the scheme is case-insensitive.
    return /^bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}
