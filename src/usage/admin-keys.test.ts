/**
 * Organisation admin keys: resolved from the configuration (by hash or variable), one
 * organisation each, never usable as an inference key and never sharing a secret with one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ConfigError, hashApiKey, parseConfig } from '../config/load.ts';
import { GatewayError } from '../errors.ts';
import { AdminAuthenticator, adminKeyPrefix, mintAdminKey } from './admin-keys.ts';
import { loadUsageSettings } from './usage-settings.ts';

const adminSecret = `${adminKeyPrefix}acme-secret`;

function config(extra: string): string {
  return `organizations:
  - id: acme
  - id: globex
api_keys:
  - id: acme-key
    organization: acme
    secret_sha256: ${hashApiKey('sk-odock-acme')}
    models: ["*"]
${extra}`;
}

const refusal = (call: () => unknown): GatewayError => {
  try {
    call();
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    return error;
  }
  assert.fail('expected a refusal');
};

describe('admin keys', () => {
  test('authenticates an admin key to its one organisation', () => {
    const runtime = parseConfig(
      config(`admin_keys:
  - id: acme-admin
    organization: acme
    secret_sha256: ${hashApiKey(adminSecret)}
  - id: globex-admin
    organization: globex
    secret_env: GLOBEX_ADMIN
`),
      'test.yaml',
    );
    const globexSecret = `${adminKeyPrefix}globex`;
    const admin = AdminAuthenticator.fromConfig(runtime, { GLOBEX_ADMIN: globexSecret });
    assert.equal(admin.size, 2);
    assert.deepEqual(admin.authenticate({ authorization: `Bearer ${adminSecret}` }), {
      adminKeyId: 'acme-admin',
      organizationId: 'acme',
    });
    assert.equal(admin.authenticate({ 'x-api-key': globexSecret }).organizationId, 'globex');
  });

  test('refuses inference keys, unknown admin keys and a missing key with 401', () => {
    const runtime = parseConfig(
      config(`admin_keys:
  - id: acme-admin
    organization: acme
    secret_sha256: ${hashApiKey(adminSecret)}
`),
      'test.yaml',
    );
    const admin = AdminAuthenticator.fromConfig(runtime, {});
    for (const headers of [
      {},
      { authorization: 'Bearer sk-odock-acme' },
      { authorization: `Bearer ${adminKeyPrefix}guess` },
      { authorization: `Basic ${adminSecret}` },
    ]) {
      const error = refusal(() => admin.authenticate(headers));
      assert.equal(error.code, 'unauthorized');
      assert.equal(error.status, 401);
    }
    assert.match(
      refusal(() => admin.authenticate({ authorization: 'Bearer sk-odock-acme' })).publicMessage,
      /API keys for models are refused/,
    );
  });

  test('the configuration refuses a secret that is both an admin key and an API key', () => {
    assert.throws(
      () =>
        parseConfig(
          config(`admin_keys:
  - id: acme-admin
    organization: nowhere
    secret_sha256: ${hashApiKey('sk-odock-acme')}
`),
          'test.yaml',
        ),
      (error: ConfigError) => {
        assert.ok(error.problems.includes('admin_keys.0.organization: unknown organization "nowhere"'));
        assert.ok(
          error.problems.some((problem) => problem.startsWith('admin_keys.0.secret_sha256: the same secret')),
        );
        return true;
      },
    );
  });

  test('start-up refuses an admin secret from a variable that lacks the prefix or is an API key', () => {
    const runtime = parseConfig(
      config(`admin_keys:
  - id: acme-admin
    organization: acme
    secret_env: ACME_ADMIN
`),
      'test.yaml',
    );
    assert.throws(
      () => AdminAuthenticator.fromConfig(runtime, { ACME_ADMIN: 'not-prefixed' }),
      /must start with/,
    );
    assert.throws(
      () => AdminAuthenticator.fromConfig(runtime, { ACME_ADMIN: 'sk-odock-acme' }),
      /the same secret is an API key/,
    );
    assert.equal(
      AdminAuthenticator.fromConfig(runtime, {}).size,
      0,
      'an unset variable leaves the key unusable',
    );
  });

  test('minted admin keys carry the prefix and their hash', () => {
    const { secret, sha256 } = mintAdminKey();
    assert.ok(secret.startsWith(adminKeyPrefix));
    assert.ok(secret.length > adminKeyPrefix.length + 30);
    assert.equal(sha256, hashApiKey(secret));
  });
});

describe('usage settings', () => {
  test('defaults, overrides, and a line per invalid variable', () => {
    assert.deepEqual(loadUsageSettings({}), {
      queueCapacity: 10_000,
      batchSize: 500,
      flushIntervalMs: 200,
      drainTimeoutMs: 10_000,
      retentionDays: 90,
      partitionsAheadDays: 3,
    });
    assert.equal(loadUsageSettings({ ODOCK_USAGE_RETENTION_DAYS: '0' }).retentionDays, 0);
    assert.throws(
      () => loadUsageSettings({ ODOCK_USAGE_QUEUE_CAPACITY: '0', ODOCK_USAGE_BATCH_SIZE: 'many' }),
      (error: ConfigError) => {
        assert.equal(error.problems.length, 2);
        assert.ok(error.problems.some((problem) => problem.startsWith('ODOCK_USAGE_QUEUE_CAPACITY')));
        return true;
      },
    );
  });
});
