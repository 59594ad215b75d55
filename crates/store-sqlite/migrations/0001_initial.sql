-- Version 1: workspaces, API keys, agents, phone numbers.
-- Times are milliseconds since the Unix epoch; money is whole cents.

CREATE TABLE workspaces (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    -- ISO 3166-1 alpha-2 codes, comma-separated, sorted.
    enabled_countries TEXT NOT NULL DEFAULT '',
    kyc_verified      INTEGER NOT NULL DEFAULT 0 CHECK (kyc_verified IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    -- SHA-256 of the secret. The secret itself is never stored.
    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    expires_at    INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at);

CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX agents_by_workspace ON agents (workspace_id, created_at, id);

CREATE TABLE phone_numbers (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- E.164. Unique across all workspaces: a number belongs to at most one owner, and
    -- "exactly one buyer wins" is this constraint's job, not a read-then-write check.
    phone_number       TEXT NOT NULL UNIQUE,
    country_code       TEXT NOT NULL,
    type               TEXT NOT NULL CHECK (type IN ('local', 'toll_free', 'mobile')),
    monthly_cost_cents INTEGER NOT NULL CHECK (monthly_cost_cents >= 0),
    voice              INTEGER NOT NULL CHECK (voice IN (0, 1)),
    sms                INTEGER NOT NULL CHECK (sms IN (0, 1)),
    label              TEXT,
    nickname           TEXT,
    inbound_agent_id   TEXT REFERENCES agents (id) ON DELETE SET NULL,
    outbound_agent_id  TEXT REFERENCES agents (id) ON DELETE SET NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    provider           TEXT NOT NULL,
    sip_trunk_enabled  INTEGER NOT NULL DEFAULT 0 CHECK (sip_trunk_enabled IN (0, 1)),
    is_default         INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX phone_numbers_by_workspace ON phone_numbers (workspace_id, created_at, id);
-- At most one default number per workspace.
CREATE UNIQUE INDEX phone_numbers_one_default ON phone_numbers (workspace_id) WHERE is_default = 1;
