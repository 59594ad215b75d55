-- Version 6: the workspace's change feed (see the SQLite migration for the columns).
--
-- On PostgreSQL a `seq` is taken before its transaction commits, so a later `seq` can become
-- visible before an earlier one. Each row therefore records the id of the transaction that
-- wrote it (`txid`), and the feed only serves rows of transactions older than the oldest
-- one still running (`txid_snapshot_xmin`): none of those can commit a row later, so a
-- reader that resumes after the last (txid, seq) it saw misses nothing and sees nothing twice.
CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    txid         BIGINT NOT NULL DEFAULT txid_current(),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    phone_number TEXT,
    agent_ids    TEXT NOT NULL DEFAULT ' ',
    actor        TEXT NOT NULL,
    request_id   TEXT,
    changes      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX events_by_workspace ON events (workspace_id, seq);
CREATE INDEX events_by_cursor ON events (workspace_id, txid, seq);
CREATE INDEX events_by_subject ON events (workspace_id, subject_id, seq);

INSERT INTO events (workspace_id, type, subject_id, phone_number, agent_ids, actor, request_id, changes, created_at)
SELECT workspace_id, 'phone_number.' || action, phone_number_id, phone_number,
       ' ' || coalesce((changes::jsonb #>> '{inbound_agent_id,before}') || ' ', '')
           || coalesce((changes::jsonb #>> '{inbound_agent_id,after}') || ' ', '')
           || coalesce((changes::jsonb #>> '{outbound_agent_id,before}') || ' ', '')
           || coalesce((changes::jsonb #>> '{outbound_agent_id,after}') || ' ', ''),
       actor, request_id, changes, created_at
FROM phone_number_history ORDER BY seq;
