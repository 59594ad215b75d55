-- Version 7: webhook endpoints and their delivery queue (an outbox).

-- The `data` of an event's webhook deliveries (JSON), written with the event; NULL for
-- events written before this version.
ALTER TABLE events ADD COLUMN data TEXT;

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    description     TEXT,
    -- The event types it receives, each between spaces (` a b `); '' for all.
    event_types     TEXT NOT NULL DEFAULT '',
    enabled         INTEGER NOT NULL DEFAULT 1,
    -- 'failing' (disabled by the server) or 'manual'.
    disabled_reason TEXT,
    disabled_at     INTEGER,
    -- Since when every attempt to it has failed.
    failing_since   INTEGER,
    secret_sealed   BLOB NOT NULL,
    -- The secret before the last rotation, which signs too until it expires.
    previous_secret_sealed     BLOB,
    previous_secret_expires_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id, created_at);

-- One event (or ping) on its way to one endpoint. Written in the transaction of the event.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The `webhook-id` header: `evt_<event seq>`, or the delivery's own id for a ping.
    message_id      TEXT NOT NULL,
    -- NULL for a ping.
    event_seq       INTEGER,
    event_type      TEXT NOT NULL,
    -- The event's subject (or the delivery's id for a ping): one endpoint receives one
    -- subject's events in `event_seq` order.
    ordering_key    TEXT NOT NULL,
    -- pending, delivered, failed
    state           TEXT NOT NULL DEFAULT 'pending',
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    -- The worker that holds it, and until when.
    leased_by       TEXT,
    leased_until    INTEGER,
    -- JSON array of the attempts, newest last.
    attempts        TEXT NOT NULL DEFAULT '[]',
    -- A ping's body (events' bodies are built from the event).
    ping_data       TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (endpoint_id, ordering_key, event_seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);
-- Deliveries that ended are deleted after 30 days.
CREATE INDEX webhook_deliveries_ended ON webhook_deliveries (updated_at) WHERE state <> 'pending';
CREATE UNIQUE INDEX webhook_deliveries_one_per_event ON webhook_deliveries (endpoint_id, event_seq);

-- Keys that could do everything before this version still can.
UPDATE api_keys SET scopes = scopes || ',webhooks:manage'
WHERE scopes = 'phone_numbers:read,phone_numbers:write,agents:read,agents:write,api_keys:manage';
