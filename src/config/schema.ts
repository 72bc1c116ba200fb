/**
 * The declarative gateway configuration (the YAML file named by `ODOCK_CONFIG`).
 * One zod definition is the validator, the TypeScript type and the source of the JSON Schema
 * shipped at `config/odock.schema.json` for editor completion.
 */
import { z } from 'zod';

const identifier = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 chars of a-z, 0-9, ".", "_", "-" starting with a letter or digit');

/** A USD amount written as a decimal (number or string), kept exact by parsing the text. */
const usdAmount = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d{1,9})?$/, 'must be a decimal USD amount')])
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
    organization: identifier,
    team: identifier.optional(),
    email: z.string().email().optional(),
  })
  .strict();

const provider = z
  .object({
    name: identifier.describe('gateway-side provider name, the `provider` label in telemetry'),
    type: z.enum(providerTypes).describe('wire family: openai (any OpenAI-compatible server), anthropic, gemini'),
    base_url: z
      .string()
      .refine((value) => value === 'builtin-mock' || URL.canParse(value), 'must be an absolute URL or "builtin-mock"')
      .describe('upstream base URL, e.g. https://api.openai.com/v1; "builtin-mock" uses the in-process mock upstream'),
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe('name of the environment variable holding the provider credential (never the credential itself)'),
    enabled: z.boolean().default(true),
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
    type: z.enum(modelTypes).default('chat'),
    timeout_ms: z.number().int().positive().max(3_600_000).default(120_000),
    pricing: pricing.default({}),
  })
  .strict();

const apiKey = z
  .object({
    id: identifier.describe('key id, the `api_key_id` label in telemetry'),
    organization: identifier,
    team: identifier.optional(),
    user: identifier.optional(),
    secret_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256')
      .optional()
      .describe('SHA-256 of the key (so the file never holds the key itself)'),
    secret_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional()
      .describe('environment variable holding the key; hashed at start'),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    revoked: z.boolean().default(false),
    models: z
      .array(z.union([identifier, z.literal('*')]))
      .min(1)
      .describe('model names this key may use; "*" grants every model of the configuration'),
  })
  .strict()
  .refine((key) => (key.secret_sha256 === undefined) !== (key.secret_env === undefined), {
    message: 'exactly one of secret_sha256 or secret_env is required',
  });

export const gatewayConfigSchema = z
  .object({
    organizations: z.array(organization).default([]),
    teams: z.array(team).default([]),
    users: z.array(user).default([]),
    providers: z.array(provider).default([]),
    models: z.array(model).default([]),
    api_keys: z.array(apiKey).default([]),
  })
  .strict()
  .superRefine(checkReferences);

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type ProviderConfig = GatewayConfig['providers'][number];
export type ModelConfig = GatewayConfig['models'][number];
export type ApiKeyConfig = GatewayConfig['api_keys'][number];
export type ProviderType = (typeof providerTypes)[number];
export type ModelType = (typeof modelTypes)[number];
export type TokenPriceClass = (typeof tokenPriceClasses)[number];

type Issue = { path: (string | number)[]; message: string };

/** Cross-references (a model's provider, a key's organisation, ...) and duplicate ids, all reported together. */
function checkReferences(config: GatewayConfig, context: z.RefinementCtx): void {
  const issues: Issue[] = [];
  const ids = (section: keyof GatewayConfig, key: 'id' | 'name') => {
    const seen = new Set<string>();
    config[section].forEach((entry, index) => {
      const value = (entry as Record<string, string>)[key]!;
      if (seen.has(value)) issues.push({ path: [section, index, key], message: `duplicate ${key} "${value}"` });
      seen.add(value);
    });
    return seen;
  };
  const organizations = ids('organizations', 'id');
  const teams = ids('teams', 'id');
  const users = ids('users', 'id');
  const providers = ids('providers', 'name');
  const models = ids('models', 'name');
  ids('api_keys', 'id');

  const teamOrganization = new Map(config.teams.map((entry) => [entry.id, entry.organization]));
  const userOrganization = new Map(config.users.map((entry) => [entry.id, entry.organization]));
  const requireOrganization = (section: string, index: number, value: string) => {
    if (!organizations.has(value))
      issues.push({ path: [section, index, 'organization'], message: `unknown organization "${value}"` });
  };
  const requireTeam = (section: string, index: number, value: string | undefined, organizationId: string) => {
    if (value === undefined) return;
    if (!teams.has(value)) issues.push({ path: [section, index, 'team'], message: `unknown team "${value}"` });
    else if (teamOrganization.get(value) !== organizationId)
      issues.push({ path: [section, index, 'team'], message: `team "${value}" belongs to another organization` });
  };
  config.teams.forEach((entry, index) => requireOrganization('teams', index, entry.organization));
  config.users.forEach((entry, index) => {
    requireOrganization('users', index, entry.organization);
    requireTeam('users', index, entry.team, entry.organization);
  });
  config.models.forEach((entry, index) => {
    if (!providers.has(entry.provider))
      issues.push({ path: ['models', index, 'provider'], message: `unknown provider "${entry.provider}"` });
  });
  config.api_keys.forEach((entry, index) => {
    requireOrganization('api_keys', index, entry.organization);
    requireTeam('api_keys', index, entry.team, entry.organization);
    if (entry.user !== undefined) {
      if (!users.has(entry.user))
        issues.push({ path: ['api_keys', index, 'user'], message: `unknown user "${entry.user}"` });
      else if (userOrganization.get(entry.user) !== entry.organization)
        issues.push({ path: ['api_keys', index, 'user'], message: `user "${entry.user}" belongs to another organization` });
    }
    entry.models.forEach((name, modelIndex) => {
      if (name !== '*' && !models.has(name))
        issues.push({ path: ['api_keys', index, 'models', modelIndex], message: `unknown model "${name}"` });
    });
  });
  for (const issue of issues) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
}
