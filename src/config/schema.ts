/**
 * The declarative gateway configuration (the YAML file named by `ODOCK_CONFIG`).
 * One zod definition is the validator, the TypeScript type and the source of the JSON Schema
 * shipped at `config/odock.schema.json` for editor completion.
 */
import { z } from 'zod';

const identifier = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    'must be 1-64 chars of a-z, 0-9, ".", "_", "-" starting with a letter or digit',
  );

/** A USD amount written as a decimal (number or string), kept exact by parsing the text. */
const usdAmount = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d{1,9})?$/, 'must be a decimal USD amount')], {
    // Without it a value that is neither a number nor a string (`.inf`, `null`) reads "Invalid input".
    error: 'must be a non-negative USD amount, a number or a decimal string',
  })
  .describe('USD, up to 9 decimal places');

export const providerTypes = ['openai', 'anthropic', 'gemini'] as const;
export const modelTypes = ['chat', 'embeddings'] as const;
export const tokenPriceClasses = [
  'input',
  'output',
  'cached_input',
  'cache_write',
  'reasoning',
  'audio_input',
  'audio_output',
  'image_input',
  'embeddings',
] as const;

const organization = z
  .object({
    id: identifier.describe('stable id used by teams, users, keys and in telemetry (organization_id)'),
    name: z.string().min(1).optional(),
  })
  .strict();

const team = z
  .object({
    id: identifier,
    organization: identifier.describe('id of the owning organisation'),
    name: z.string().min(1).optional(),
  })
  .strict();

const user = z
  .object({
    id: identifier,
    organization: identifier.describe('id of the organisation the user belongs to'),
    team: identifier.optional().describe('id of a team of the same organisation'),
    email: z.string().email().optional(),
  })
  .strict();

const provider = z
  .object({
    name: identifier.describe('gateway-side provider name, the `provider` label in telemetry'),
    type: z
      .enum(providerTypes)
      .describe('wire family: openai (any OpenAI-compatible server), anthropic, gemini'),
    // A union rather than a refine so the JSON Schema offers "builtin-mock" to editors; the protocol
    // check rejects strings such as "localhost:8080" that URL.canParse accepts as a "localhost:" scheme.
    base_url: z
      .union(
        [
          z.literal('builtin-mock'),
          z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL or "builtin-mock"' }),
        ],
        { error: 'must be an absolute http(s) URL or "builtin-mock"' },
      )
      .describe(
        'upstream base URL, e.g. https://api.openai.com/v1; "builtin-mock" uses the in-process mock upstream',
      ),
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe(
        'name of the environment variable holding the provider credential (never the credential itself)',
      ),
    enabled: z
      .boolean()
      .default(true)
      .describe('false keeps the provider declared but answers its models with 403 provider_disabled'),
    headers: z.record(z.string(), z.string()).optional().describe('extra static headers sent upstream'),
  })
  .strict();

const pricing = z
  .partialRecord(z.enum(tokenPriceClasses), usdAmount)
  .describe('USD per million tokens, per token class');

const model = z
  .object({
    name: identifier.describe('the model name clients send in `model`'),
    provider: identifier.describe('name of a provider in `providers`'),
    upstream_model: z.string().min(1).describe('the slug sent to the provider'),
    type: z
      .enum(modelTypes)
      .default('chat')
      .describe('chat (chat, messages and unified endpoints) or embeddings (/v1/embeddings)'),
    timeout_ms: z
      .number()
      .int()
      .positive()
      .max(3_600_000)
      .default(120_000)
      .describe('deadline for one upstream attempt, in milliseconds'),
    pricing: pricing.default({}),
  })
  .strict();

const apiKey = z
  .object({
    id: identifier.describe('key id, the `api_key_id` label in telemetry'),
    organization: identifier.describe('id of the organisation the key bills to'),
    team: identifier.optional().describe('id of a team of the same organisation'),
    user: identifier.optional().describe('id of a user of the same organisation'),
    secret_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256')
      .optional()
      .describe('SHA-256 of the key (so the file never holds the key itself)'),
    secret_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe('environment variable holding the key; hashed at start'),
    expires_at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('RFC 3339 timestamp with offset, e.g. 2026-12-31T23:59:59Z; later requests answer 401'),
    revoked: z.boolean().default(false).describe('true makes the key answer 401 api_key_revoked'),
    models: z
      .array(z.union([identifier, z.literal('*')]))
      .min(1)
      .describe('model names this key may use; "*" grants every model of the configuration'),
  })
  .strict()
  .refine((key) => (key.secret_sha256 === undefined) !== (key.secret_env === undefined), {
    message: 'exactly one of secret_sha256 or secret_env is required',
  })
  // The refine above is invisible to JSON Schema; this is its equivalent for editors.
  .meta({ oneOf: [{ required: ['secret_sha256'] }, { required: ['secret_env'] }] });

/** Organisation admin credentials for the usage read API; never accepted by the model endpoints. */
const adminKey = z
  .object({
    id: identifier.describe('admin key id, for logs and audit'),
    organization: identifier.describe('id of the one organisation whose usage the key may read'),
    secret_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256')
      .optional()
      .describe('SHA-256 of the admin key (a secret starting with sk-odock-admin-)'),
    secret_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe('environment variable holding the admin key; hashed at start'),
  })
  .strict()
  .refine((key) => (key.secret_sha256 === undefined) !== (key.secret_env === undefined), {
    message: 'exactly one of secret_sha256 or secret_env is required',
  })
  .meta({ oneOf: [{ required: ['secret_sha256'] }, { required: ['secret_env'] }] });

export const gatewayConfigSchema = z
  .object({
    organizations: z.array(organization).default([]).describe('tenants; every key belongs to one'),
    teams: z.array(team).default([]).describe('optional groups inside an organisation'),
    users: z.array(user).default([]).describe('optional people inside an organisation'),
    providers: z.array(provider).default([]).describe('upstream endpoints the gateway calls'),
    models: z.array(model).default([]).describe('the model names clients may request'),
    api_keys: z.array(apiKey).default([]).describe('virtual API keys clients authenticate with'),
    admin_keys: z
      .array(adminKey)
      .default([])
      .describe('organisation admin keys for the usage read API (docs/usage-records.md)'),
  })
  .strict()
  // `when`: zod skips refinements once any field failed its type, which would hide an unknown
  // organisation behind a missing field elsewhere; the checks read the partial document defensively.
  .superRefine(checkReferences, { when: (payload) => isRecord(payload.value) });

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type ProviderConfig = GatewayConfig['providers'][number];
export type ModelConfig = GatewayConfig['models'][number];
export type ApiKeyConfig = GatewayConfig['api_keys'][number];
export type AdminKeyConfig = GatewayConfig['admin_keys'][number];
export type ProviderType = (typeof providerTypes)[number];
export type ModelType = (typeof modelTypes)[number];
export type TokenPriceClass = (typeof tokenPriceClasses)[number];

type Issue = { path: (string | number)[]; message: string };
type Entry = { readonly index: number; readonly fields: Readonly<Record<string, unknown>> };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The entries of a section that are at least objects, with their index in the file. */
function entriesOf(config: unknown, section: keyof GatewayConfig): Entry[] {
  const list = isRecord(config) ? config[section] : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((fields: unknown, index) => (isRecord(fields) ? [{ index, fields }] : []));
}

function text(entry: Entry, field: string): string | undefined {
  const value = entry.fields[field];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Cross-references (a model's provider, a key's organisation, ...) and duplicate ids, all reported together.
 * The document may be partially invalid here (see `when` above), hence `unknown` and the defensive reads.
 */
function checkReferences(config: unknown, context: z.RefinementCtx): void {
  const issues: Issue[] = [];
  const section = (name: keyof GatewayConfig, key: 'id' | 'name') => {
    const entries = entriesOf(config, name);
    const seen = new Set<string>();
    for (const entry of entries) {
      const value = text(entry, key);
      if (value === undefined) continue;
      if (seen.has(value))
        issues.push({ path: [name, entry.index, key], message: `duplicate ${key} "${value}"` });
      seen.add(value);
    }
    return { entries, ids: seen };
  };
  const organizations = section('organizations', 'id').ids;
  const teams = section('teams', 'id');
  const users = section('users', 'id');
  const providers = section('providers', 'name').ids;
  const models = section('models', 'name');
  const apiKeys = section('api_keys', 'id');
  const adminKeys = section('admin_keys', 'id');

  const owner = (entries: Entry[]) =>
    new Map(entries.map((entry) => [text(entry, 'id'), text(entry, 'organization')] as const));
  const teamOrganization = owner(teams.entries);
  const userOrganization = owner(users.entries);
  const requireOrganization = (name: string, entry: Entry) => {
    const value = text(entry, 'organization');
    if (value !== undefined && !organizations.has(value))
      issues.push({ path: [name, entry.index, 'organization'], message: `unknown organization "${value}"` });
  };
  const requireMember = (
    name: string,
    entry: Entry,
    field: 'team' | 'user',
    ids: Set<string>,
    owners: typeof teamOrganization,
  ) => {
    const value = text(entry, field);
    if (value === undefined) return;
    if (!ids.has(value))
      issues.push({ path: [name, entry.index, field], message: `unknown ${field} "${value}"` });
    else if (owners.get(value) !== text(entry, 'organization'))
      issues.push({
        path: [name, entry.index, field],
        message: `${field} "${value}" belongs to another organization`,
      });
  };
  for (const entry of teams.entries) requireOrganization('teams', entry);
  for (const entry of users.entries) {
    requireOrganization('users', entry);
    requireMember('users', entry, 'team', teams.ids, teamOrganization);
  }
  for (const entry of models.entries) {
    const value = text(entry, 'provider');
    if (value !== undefined && !providers.has(value))
      issues.push({ path: ['models', entry.index, 'provider'], message: `unknown provider "${value}"` });
  }
  for (const entry of apiKeys.entries) {
    requireOrganization('api_keys', entry);
    requireMember('api_keys', entry, 'team', teams.ids, teamOrganization);
    requireMember('api_keys', entry, 'user', users.ids, userOrganization);
    const grants = entry.fields['models'];
    if (!Array.isArray(grants)) continue;
    grants.forEach((name: unknown, grantIndex) => {
      if (typeof name === 'string' && name !== '*' && !models.ids.has(name))
        issues.push({
          path: ['api_keys', entry.index, 'models', grantIndex],
          message: `unknown model "${name}"`,
        });
    });
  }
  // An admin key must never double as an inference key (or the reverse): the two never share a secret.
  const inferenceHashes = new Set(apiKeys.entries.map((entry) => text(entry, 'secret_sha256')));
  for (const entry of adminKeys.entries) {
    requireOrganization('admin_keys', entry);
    const hash = text(entry, 'secret_sha256');
    if (hash !== undefined && inferenceHashes.has(hash))
      issues.push({
        path: ['admin_keys', entry.index, 'secret_sha256'],
        message: 'the same secret is declared as an API key; an admin key must have its own secret',
      });
  }
  for (const issue of issues) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
}
