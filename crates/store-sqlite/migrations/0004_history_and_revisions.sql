-- Version 4: every change to a number, and a revision counter for optimistic concurrency.

-- One row per change, written in the same transaction as the change itself, so the history
-- can never disagree with the record. No foreign key to phone_numbers: a released number's
-- history stays with its workspace.
CREATE TABLE phone_number_history (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    phone_number_id TEXT NOT NULL,
    phone_number    TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('imported', 'purchased', 'linked', 'updated', 'released')),
    -- The API key id that made the change, or 'cli'.
    actor           TEXT NOT NULL,
    request_id      TEXT,
    -- JSON: {"field": {"before": …, "after": …}, …}
    changes         TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX phone_number_history_by_number ON phone_number_history (workspace_id, phone_number_id, seq);

-- Bumped by every change; the ETag of a number is derived from its id and revision.
ALTER TABLE phone_numbers ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
