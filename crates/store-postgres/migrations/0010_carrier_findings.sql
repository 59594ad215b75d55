-- Version 10: what the last reconcile with each carrier found (`numbers reconcile`, the
-- server's hourly check). Each run replaces its carrier's rows. A finding about a number
-- here names its workspace and number; one about a number the carrier bills for that no
-- workspace holds (`unknown_at_carrier`) names neither.
CREATE TABLE carrier_findings (
    provider        TEXT NOT NULL,
    code            TEXT NOT NULL,
    phone_number    TEXT NOT NULL,
    workspace_id    TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    phone_number_id TEXT,
    -- For carrier_drift: where the carrier sends the number's calls instead.
    detail          TEXT NOT NULL,
    found_at        BIGINT NOT NULL,
    PRIMARY KEY (provider, phone_number, code)
);
CREATE INDEX carrier_findings_by_workspace ON carrier_findings (workspace_id);
