-- Version 6: the workspace's change feed.

-- Every change of a workspace, written in the same transaction as the change: each number
-- history entry, and agent and API key changes. `seq` is the feed's order: SQLite runs one
-- write transaction at a time, so `seq` grows in commit order and a reader that resumes
-- after the last `seq` it saw misses nothing.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- phone_number.{imported,purchased,linked,updated,released}, agent.{created,renamed,deleted},
    -- api_key.{created,revoked,expiry_set}
    type         TEXT NOT NULL,
    -- The number, agent or key the event is about.
    subject_id   TEXT NOT NULL,
    phone_number TEXT,
    -- The agents the event concerns, each between spaces (` agt_a agt_b `): the agent itself,
    -- or those a number's routing moved from or to.
    agent_ids    TEXT NOT NULL DEFAULT ' ',
    actor        TEXT NOT NULL,
    request_id   TEXT,
    -- JSON: {"field": {"before": …, "after": …}, …}
    changes      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX events_by_workspace ON events (workspace_id, seq);
CREATE INDEX events_by_subject ON events (workspace_id, subject_id, seq);

-- The history written before this version, in its order.
INSERT INTO events (workspace_id, type, subject_id, phone_number, agent_ids, actor, request_id, changes, created_at)
SELECT workspace_id, 'phone_number.' || action, phone_number_id, phone_number,
       ' ' || coalesce(json_extract(changes, '$.inbound_agent_id.before') || ' ', '')
           || coalesce(json_extract(changes, '$.inbound_agent_id.after') || ' ', '')
           || coalesce(json_extract(changes, '$.outbound_agent_id.before') || ' ', '')
           || coalesce(json_extract(changes, '$.outbound_agent_id.after') || ' ', ''),
       actor, request_id, changes, created_at
FROM phone_number_history ORDER BY seq;
