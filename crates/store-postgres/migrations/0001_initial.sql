-- Version 1: workspaces, API keys, agents, phone numbers (same stamps as the SQLite backend).
-- Times are milliseconds since the Unix epoch; money is whole cents.

CREATE TABLE workspaces (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    enabled_countries TEXT NOT NULL DEFAULT '',
    kyc_verified      BOOLEAN NOT NULL DEFAULT false,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_sha256 BYTEA NOT NULL CHECK (length(secret_sha256) = 32),
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    expires_at    BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at);

CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX agents_by_workspace ON agents (workspace_id, created_at, id);

CREATE TABLE phone_numbers (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Unique across all workspaces: "exactly one buyer wins" is this constraint's job.
    phone_number       TEXT NOT NULL UNIQUE,
    country_code       TEXT NOT NULL,
    type               TEXT NOT NULL CHECK (type IN ('local', 'toll_free', 'mobile')),
    monthly_cost_cents BIGINT NOT NULL CHECK (monthly_cost_cents >= 0),
    voice              BOOLEAN NOT NULL,
    sms                BOOLEAN NOT NULL,
    label              TEXT,
    nickname           TEXT,
    inbound_agent_id   TEXT REFERENCES agents (id) ON DELETE SET NULL,
    outbound_agent_id  TEXT REFERENCES agents (id) ON DELETE SET NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    provider           TEXT NOT NULL,
    sip_trunk_enabled  BOOLEAN NOT NULL DEFAULT false,
    is_default         BOOLEAN NOT NULL DEFAULT false,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX phone_numbers_by_workspace ON phone_numbers (workspace_id, created_at, id);
CREATE UNIQUE INDEX phone_numbers_one_default ON phone_numbers (workspace_id) WHERE is_default;
