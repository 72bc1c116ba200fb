-- The gateway's configuration mirror and virtual API keys.
-- Runs unchanged on PGlite and PostgreSQL; applied once, inside the migration transaction.

CREATE TABLE organizations (
  id text PRIMARY KEY,
  name text,
  -- 'config' for organisations synced from the YAML file; 'cli' reserved for ones created by commands.
  source text NOT NULL DEFAULT 'config' CHECK (source IN ('config', 'cli')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX teams_organization_id_idx ON teams (organization_id);

CREATE TABLE users (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  team_id text REFERENCES teams (id),
  email text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_organization_id_idx ON users (organization_id);

CREATE TABLE providers (
  name text PRIMARY KEY,
  type text NOT NULL,
  base_url text NOT NULL,
  -- The NAME of the variable holding the credential; the credential itself is never stored.
  api_key_env text,
  enabled boolean NOT NULL DEFAULT true,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
  name text PRIMARY KEY,
  provider_name text NOT NULL REFERENCES providers (name),
  upstream_model text NOT NULL,
  type text NOT NULL,
  timeout_ms integer NOT NULL,
  -- Nano-USD per million tokens per token class, as decimal strings: {"input": "150000000"}.
  -- Strings, because JSON numbers lose precision past 2^53 in JavaScript.
  pricing jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  team_id text REFERENCES teams (id),
  user_id text REFERENCES users (id),
  -- Hex SHA-256 of the key. The check refuses anything else, so a plaintext key cannot be
  -- written here by mistake.
  key_hash char(64) NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  -- Lookup is by this prefix, then the full hash is compared in constant time by the gateway,
  -- so response timing does not reveal how much of a guessed hash matched an index entry.
  key_lookup text GENERATED ALWAYS AS (substr(key_hash, 1, 16)) STORED,
  source text NOT NULL CHECK (source IN ('config', 'cli')),
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_key_lookup_idx ON api_keys (key_lookup);
CREATE INDEX api_keys_organization_id_idx ON api_keys (organization_id);

-- Model grants per key. No foreign key to models: '*' grants every model, and a grant may
-- name a model that a later configuration removes.
CREATE TABLE api_key_models (
  api_key_id text NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  model_name text NOT NULL,
  PRIMARY KEY (api_key_id, model_name)
);
