-- Version 9: the call log. Every inbound call a carrier asked about, the targets it tried
-- and how it ended. Kept for the retention period (--call-retention-days), then deleted:
-- the caller's number is personal data.
CREATE TABLE calls (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- No foreign key: a released number's calls stay in the log.
    phone_number_id TEXT NOT NULL,
    phone_number    TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    carrier_call_id TEXT NOT NULL,
    caller          TEXT NOT NULL,
    rule_index      INTEGER,
    rule_name       TEXT,
    reason          TEXT NOT NULL,
    -- JSON array of {"agent_id","destination"}: the targets in the order they are tried.
    plan            TEXT NOT NULL,
    -- NULL while under way.
    outcome         TEXT,
    started_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    ended_at        BIGINT,
    duration_secs   BIGINT,
    UNIQUE (carrier, carrier_call_id)
);
CREATE INDEX calls_by_workspace ON calls (workspace_id, started_at, id);
CREATE INDEX calls_by_start ON calls (started_at);

CREATE TABLE call_attempts (
    call_id         TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    phone_number_id TEXT NOT NULL,
    agent_id        TEXT,
    destination     TEXT NOT NULL,
    outcome         TEXT,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    PRIMARY KEY (call_id, position)
);
-- What the concurrency cap counts: a number's attempts not ended.
CREATE INDEX call_attempts_live ON call_attempts (phone_number_id, started_at) WHERE ended_at IS NULL;
CREATE INDEX call_attempts_by_agent ON call_attempts (agent_id);

-- Keys that held every scope keep holding every scope: they may read calls too.
UPDATE api_keys SET scopes = scopes || ',calls:read'
WHERE scopes = 'phone_numbers:read,phone_numbers:write,agents:read,agents:write,api_keys:manage,webhooks:manage';
