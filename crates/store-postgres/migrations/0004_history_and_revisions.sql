-- Version 4: every change to a number, and a revision counter for optimistic concurrency.

-- One row per change, written in the same transaction as the change itself. No foreign key
-- to phone_numbers: a released number's history stays with its workspace.
CREATE TABLE phone_number_history (
    seq             BIGSERIAL PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    phone_number_id TEXT NOT NULL,
    phone_number    TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('imported', 'purchased', 'linked', 'updated', 'released')),
    actor           TEXT NOT NULL,
    request_id      TEXT,
    changes         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX phone_number_history_by_number ON phone_number_history (workspace_id, phone_number_id, seq);

ALTER TABLE phone_numbers ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
