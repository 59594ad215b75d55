-- Version 11: people who sign in, and their sessions.
-- A person belongs to one workspace, and signs in by an email address that no other live
-- person has (so the address alone finds the workspace). A removed person stays as a
-- tombstone (removed_at), so history and events still name who made a change.
CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email                 TEXT NOT NULL,
    role                  TEXT NOT NULL,
    -- argon2id, PHC form; none until the person sets one (or when they sign in only through
    -- the identity provider).
    password_hash         TEXT,
    -- SHA-256 of the one-time link's secret that sets the password, until it is used.
    setup_token_sha256    BYTEA CHECK (setup_token_sha256 IS NULL OR length(setup_token_sha256) = 32),
    setup_expires_at      BIGINT,
    -- Wrong passwords since the last sign-in, and until when sign-in is refused for them.
    failed_sign_ins       BIGINT NOT NULL DEFAULT 0,
    sign_in_blocked_until BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    removed_at            BIGINT
);
CREATE UNIQUE INDEX users_live_email ON users (email) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX users_setup_token ON users (setup_token_sha256) WHERE setup_token_sha256 IS NOT NULL;
CREATE INDEX users_by_workspace ON users (workspace_id, created_at);

-- The cookie holds a random secret; only its SHA-256 is here. A session ends when signed out,
-- ended by an admin, or its person removed (ended_at), or when it lapses (the server's idle
-- and absolute lifetimes, checked against last_seen_at and expires_at).
CREATE TABLE user_sessions (
    id            TEXT PRIMARY KEY,
    token_sha256  BYTEA NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    ended_at      BIGINT
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id, created_at);

-- Sign-ins through the identity provider in flight: the state's SHA-256, the nonce and the
-- PKCE verifier, for ten minutes, taken (deleted) by the one callback that completes them.
CREATE TABLE oidc_logins (
    state_sha256  BYTEA PRIMARY KEY CHECK (length(state_sha256) = 32),
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Keys that could do everything before this version (the one `workspace create` prints)
-- still can: they manage people too.
UPDATE api_keys SET scopes = scopes || ',users:manage'
WHERE scopes = 'phone_numbers:read,phone_numbers:write,agents:read,agents:write,api_keys:manage,webhooks:manage,calls:read';
