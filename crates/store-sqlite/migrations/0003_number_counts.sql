-- Version 3: how many numbers each workspace holds, kept by triggers, so the `total` of an
-- unfiltered list is one row read instead of a count over every number of the workspace
-- (about 9 ms at 100,000 numbers; see bench/RESULTS.md).

CREATE TABLE workspace_number_counts (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    numbers      INTEGER NOT NULL CHECK (numbers >= 0)
) STRICT;

INSERT INTO workspace_number_counts (workspace_id, numbers)
SELECT id, (SELECT count(*) FROM phone_numbers p WHERE p.workspace_id = w.id) FROM workspaces w;

CREATE TRIGGER workspace_counts_new_workspace AFTER INSERT ON workspaces
BEGIN
    INSERT INTO workspace_number_counts (workspace_id, numbers) VALUES (NEW.id, 0);
END;

CREATE TRIGGER phone_numbers_count_insert AFTER INSERT ON phone_numbers
BEGIN
    UPDATE workspace_number_counts SET numbers = numbers + 1 WHERE workspace_id = NEW.workspace_id;
END;

CREATE TRIGGER phone_numbers_count_delete AFTER DELETE ON phone_numbers
BEGIN
    UPDATE workspace_number_counts SET numbers = numbers - 1 WHERE workspace_id = OLD.workspace_id;
END;
