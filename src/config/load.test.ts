import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleConfigPath } from './json-schema.ts';
import {
  ConfigError,
  hashApiKey,
  loadConfigFile,
  parseConfig,
  type RuntimeConfig,
  usdToNanos,
} from './load.ts';

const secretSha256 = hashApiKey('sk-test');

/** A small valid file the cases below extend; one organisation with a team, one provider, one model. */
const base = `
organizations:
  - { id: acme }
  - { id: globex }
teams:
  - { id: acme-team, organization: acme }
  - { id: globex-team, organization: globex }
users:
  - { id: alice, organization: acme, team: acme-team, email: alice@example.com }
providers:
  - { name: mock, type: openai, base_url: builtin-mock }
models:
  - { name: echo, provider: mock, upstream_model: mock-gpt }
`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

function load(text: string, env: NodeJS.ProcessEnv = {}): RuntimeConfig {
  return parseConfig(text, 'test.yaml', env);
}

describe('loadConfigFile', () => {
  it('loads the shipped example', async () => {
    const config = await loadConfigFile(exampleConfigPath, {});
    assert.equal(config.source, exampleConfigPath);
    assert.deepEqual(
      [...config.providers.keys()],
      ['demo-openai', 'demo-anthropic', 'openai', 'anthropic', 'gemini'],
    );
    assert.equal(config.models.size, 7);
    const echo = config.models.get('demo-echo')!;
    assert.equal(echo.provider.baseUrl, 'builtin-mock');
    assert.equal(echo.upstreamModel, 'mock-gpt');
    assert.equal(echo.timeoutMs, 30_000);
    assert.deepEqual(echo.pricing, { input: 150_000_000n, output: 600_000_000n, cached_input: 75_000_000n });
    assert.equal(config.models.get('gpt-4o-mini')!.timeoutMs, 120_000, 'the default deadline');
    assert.equal(config.models.get('gpt-4o-mini')!.provider.apiKey, undefined, 'OPENAI_API_KEY unset');
    const [demoKey] = config.apiKeys;
    assert.equal(demoKey?.keyHash, hashApiKey('sk-odock-demo'), 'the comment in the example names the key');
    assert.deepEqual(demoKey?.models, ['demo-echo', 'demo-claude', 'demo-embed']);
  });

  it('reports an unreadable file as a ConfigError naming it', async () => {
    await assert.rejects(loadConfigFile('/nonexistent/odock.yaml', {}), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /^invalid configuration in \/nonexistent\/odock\.yaml:\n {2}- cannot read file/,
      );
      return true;
    });
  });
});

describe('parseConfig problems', () => {
  it('reports every problem together, each with its path', () => {
    const text = `${base}
  - { name: lost, provider: nowhere, upstream_model: x }
  - { name: warm, provider: mock, upstream_model: x, temperature: 0.2 }
api_keys:
  - { id: k1, organization: acme, secret_sha256: ${secretSha256}, models: [echo] }
  - { id: k1, organization: acme, secret_sha256: ${secretSha256}, models: [echo] }
`.replace('base_url: builtin-mock', 'base_url: "localhost:8080"');
    let caught: unknown;
    try {
      load(text);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ConfigError);
    assert.deepEqual([...caught.problems].sort(), [
      'api_keys.1.id: duplicate id "k1"',
      'models.1.provider: unknown provider "nowhere"',
      'models.2: Unrecognized key: "temperature"',
      'providers.0.base_url: must be an absolute http(s) URL or "builtin-mock"',
    ]);
    assert.equal(
      caught.message,
      `invalid configuration in test.yaml:\n${caught.problems.map((problem) => `  - ${problem}`).join('\n')}`,
    );
  });

  it('still checks references when a field elsewhere has the wrong type', () => {
    // zod skips refinements after a type error by default, which would hide the second problem.
    const problems = problemsOf(`${base}
  - { name: lost, provider: nowhere }
api_keys:
  - { id: k1, organization: initech, secret_sha256: ${secretSha256}, models: [echo, ghost] }
`);
    assert.deepEqual([...problems].sort(), [
      'api_keys.0.models.1: unknown model "ghost"',
      'api_keys.0.organization: unknown organization "initech"',
      'models.1.provider: unknown provider "nowhere"',
      'models.1.upstream_model: Invalid input: expected string, received undefined',
    ]);
  });

  it('survives a section of the wrong shape', () => {
    assert.deepEqual(problemsOf('models: 5\napi_keys: [7]\n'), [
      'models: Invalid input: expected array, received number',
      'api_keys.0: Invalid input: expected object, received number',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const problems = problemsOf('organizations:\n  - { id: acme\nteams: [\n');
    assert.ok(problems.length > 0);
    for (const problem of problems) assert.match(problem, /^yaml: .* at line \d+, column \d+:$/);
  });

  it('reports a key written twice in one mapping', () => {
    assert.match(problemsOf('organizations: []\norganizations: []\n')[0]!, /^yaml: Map keys must be unique/);
  });

  it('rejects a document that is not a mapping', () => {
    assert.deepEqual(problemsOf('- just a list\n'), [
      '(root): Invalid input: expected object, received array',
    ]);
  });

  it('treats an empty file as an empty configuration', () => {
    const config = load('');
    assert.equal(config.models.size, 0);
    assert.deepEqual(config.apiKeys, []);
  });

  it('rejects a team or user belonging to another organisation, for users and keys', () => {
    const problems = problemsOf(
      base.replace('users:\n', 'users:\n  - { id: bob, organization: globex, team: acme-team }\n') +
        `api_keys:
  - { id: k1, organization: globex, team: acme-team, secret_sha256: ${secretSha256}, models: [echo] }
  - { id: k2, organization: globex, user: alice, secret_sha256: ${secretSha256}, models: [echo] }
  - { id: k3, organization: acme, team: nope, user: nobody, secret_sha256: ${secretSha256}, models: [echo] }
`,
    );
    assert.deepEqual(problems, [
      'users.0.team: team "acme-team" belongs to another organization',
      'api_keys.0.team: team "acme-team" belongs to another organization',
      'api_keys.1.user: user "alice" belongs to another organization',
      'api_keys.2.team: unknown team "nope"',
      'api_keys.2.user: unknown user "nobody"',
    ]);
  });

  it('requires exactly one of secret_sha256 and secret_env', () => {
    const both = problemsOf(`${base}api_keys:
  - { id: k1, organization: acme, secret_sha256: ${secretSha256}, secret_env: K1, models: [echo] }
  - { id: k2, organization: acme, models: [echo] }
`);
    assert.deepEqual(both, [
      'api_keys.0: exactly one of secret_sha256 or secret_env is required',
      'api_keys.1: exactly one of secret_sha256 or secret_env is required',
    ]);
  });

  it('rejects a URL with a non-http scheme and an expiry without a time', () => {
    const problems = problemsOf(
      `${base}api_keys:\n  - { id: k1, organization: acme, secret_env: K1, models: [echo], expires_at: "2026-01-01" }\n`.replace(
        'builtin-mock',
        'ftp://example.com',
      ),
    );
    assert.deepEqual(problems, [
      'providers.0.base_url: must be an absolute http(s) URL or "builtin-mock"',
      'api_keys.0.expires_at: Invalid ISO datetime',
    ]);
  });

  it('rejects prices that are not exact non-negative decimals', () => {
    const problems = problemsOf(
      base.replace(
        'upstream_model: mock-gpt',
        'upstream_model: mock-gpt, pricing: { input: -1, output: .inf, reasoning: "0.1234567891" }',
      ),
    );
    assert.deepEqual(problems, [
      'models.0.pricing.input: Too small: expected number to be >=0',
      'models.0.pricing.output: must be a non-negative USD amount, a number or a decimal string',
      'models.0.pricing.reasoning: must be a decimal USD amount',
    ]);
  });
});

describe('parseConfig resolution', () => {
  it('accepts builtin-mock, keeps it verbatim and trims a trailing slash from real URLs', () => {
    const config = load(
      `${base}  - { name: real, provider: upstream, upstream_model: gpt }\n`.replace(
        'providers:\n',
        'providers:\n  - { name: upstream, type: openai, base_url: "http://127.0.0.1:9000/v1/" }\n',
      ),
    );
    assert.equal(config.providers.get('mock')!.baseUrl, 'builtin-mock');
    assert.equal(config.models.get('real')!.provider.baseUrl, 'http://127.0.0.1:9000/v1');
  });

  it('reads a provider credential from its api_key_env, undefined when unset or empty', () => {
    const text = base.replace('base_url: builtin-mock', 'base_url: builtin-mock, api_key_env: MOCK_KEY');
    assert.equal(load(text, { MOCK_KEY: 'sk-upstream' }).providers.get('mock')!.apiKey, 'sk-upstream');
    assert.equal(load(text, {}).providers.get('mock')!.apiKey, undefined);
    assert.equal(load(text, { MOCK_KEY: '' }).providers.get('mock')!.apiKey, undefined);
    assert.equal(load(text, {}).providers.get('mock')!.apiKeyEnv, 'MOCK_KEY');
    assert.equal(load(text, {}).providers.get('mock')!.enabled, true);
  });

  it('hashes an api key from secret_env, undefined when the variable is unset', () => {
    const text = `${base}api_keys:\n  - { id: k1, organization: acme, secret_env: ACME_KEY, models: [echo] }\n`;
    assert.equal(load(text, { ACME_KEY: 'sk-test' }).apiKeys[0]!.keyHash, secretSha256);
    assert.equal(load(text, {}).apiKeys[0]!.keyHash, undefined);
    assert.equal(load(text, { ACME_KEY: '' }).apiKeys[0]!.keyHash, undefined);
  });

  it('resolves key ownership, expiry, revocation and the "*" grant', () => {
    const config = load(`${base}api_keys:
  - id: k1
    organization: acme
    team: acme-team
    user: alice
    secret_sha256: ${secretSha256}
    expires_at: 2026-12-31T23:59:59+02:00
    revoked: true
    models: ['*']
  - { id: k2, organization: globex, secret_sha256: ${secretSha256}, models: [echo] }
`);
    const [first, second] = config.apiKeys;
    assert.deepEqual(
      { ...first },
      {
        id: 'k1',
        organizationId: 'acme',
        teamId: 'acme-team',
        userId: 'alice',
        keyHash: secretSha256,
        expiresAt: new Date('2026-12-31T21:59:59Z'),
        revoked: true,
        models: ['*'],
      },
    );
    assert.equal(second?.teamId, null);
    assert.equal(second?.userId, null);
    assert.equal(second?.expiresAt, null);
    assert.equal(second?.revoked, false);
  });

  it('converts pricing into nano-USD per million tokens, numbers and strings alike', () => {
    const config = load(
      base.replace(
        'upstream_model: mock-gpt',
        'upstream_model: mock-gpt, type: embeddings, pricing: { embeddings: 0.02, input: "0.000000001", output: 3 }',
      ),
    );
    const echo = config.models.get('echo')!;
    assert.equal(echo.type, 'embeddings');
    assert.deepEqual(echo.pricing, { embeddings: 20_000_000n, input: 1n, output: 3_000_000_000n });
  });

  it('returns a deeply frozen configuration', () => {
    const config = load(
      `${base}api_keys:\n  - { id: k1, organization: acme, secret_sha256: ${secretSha256}, models: [echo] }\n`.replace(
        'base_url: builtin-mock',
        'base_url: builtin-mock, headers: { x-team: acme }',
      ),
    );
    const echo = config.models.get('echo')!;
    // ES modules run in strict mode, so every write below throws rather than being ignored.
    const writes: [string, () => void][] = [
      ['runtime config', () => Object.assign(config, { source: 'x' })],
      ['document', () => (config.document.models as unknown[]).push({})],
      ['document entry', () => Object.assign(config.document.models[0]!, { timeout_ms: 1 })],
      ['document pricing', () => Object.assign(config.document.models[0]!.pricing, { input: 1 })],
      ['document headers', () => Object.assign(config.document.providers[0]!.headers!, { x: 'y' })],
      ['providers map', () => (config.providers as Map<string, unknown>).set('x', {})],
      ['models map delete', () => (config.models as Map<string, unknown>).delete('echo')],
      ['models map clear', () => (config.models as Map<string, unknown>).clear()],
      ['resolved model', () => Object.assign(echo, { timeoutMs: 1 })],
      ['resolved pricing', () => Object.assign(echo.pricing, { input: 1n })],
      ['resolved provider', () => Object.assign(echo.provider, { enabled: false })],
      ['provider headers', () => Object.assign(echo.provider.headers, { x: 'y' })],
      ['api keys', () => (config.apiKeys as unknown[]).push({})],
      ['api key', () => Object.assign(config.apiKeys[0]!, { revoked: true })],
      ['api key grants', () => (config.apiKeys[0]!.models as string[]).push('*')],
    ];
    for (const [name, write] of writes) assert.throws(write, TypeError, name);
    assert.equal(config.models.size, 1);
    assert.equal(echo.timeoutMs, 120_000);
  });
});

describe('usdToNanos', () => {
  it('is exact for strings and for numbers with up to 9 decimals', () => {
    assert.equal(usdToNanos(0.15), 150_000_000n);
    assert.equal(usdToNanos('0.000000001'), 1n);
    assert.equal(usdToNanos(0.000000001), 1n);
    assert.equal(usdToNanos(3), 3_000_000_000n);
    assert.equal(usdToNanos(15.5), 15_500_000_000n);
    assert.equal(usdToNanos('15.5'), 15_500_000_000n);
    assert.equal(usdToNanos('12345678901234567890.123456789'), 12_345_678_901_234_567_890_123_456_789n);
  });

  it('rounds numbers to 9 decimals, removing binary floating-point noise', () => {
    assert.equal(0.1 + 0.2, 0.30000000000000004);
    assert.equal(usdToNanos(0.1 + 0.2), 300_000_000n);
    assert.equal(usdToNanos(0.0000000004), 0n);
    assert.equal(usdToNanos(0.0000000006), 1n);
    assert.equal(usdToNanos(1e21), 10n ** 30n, 'toFixed would write 1e+21');
  });

  it('refuses what is not a non-negative decimal', () => {
    for (const amount of [-1, Number.NaN, Number.POSITIVE_INFINITY, '-0.5', '1e3', '', ' 1', '0x10'])
      assert.throws(() => usdToNanos(amount), RangeError, String(amount));
  });
});
