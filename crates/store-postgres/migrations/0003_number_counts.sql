-- Version 3: how many numbers each workspace holds, kept by triggers, so the `total` of an
-- unfiltered list is one row read instead of a count over every number of the workspace.

CREATE TABLE workspace_number_counts (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    numbers      BIGINT NOT NULL CHECK (numbers >= 0)
);

INSERT INTO workspace_number_counts (workspace_id, numbers)
SELECT w.id, (SELECT count(*) FROM phone_numbers p WHERE p.workspace_id = w.id) FROM workspaces w;

CREATE FUNCTION workspace_counts_new_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workspace_number_counts (workspace_id, numbers) VALUES (NEW.id, 0);
    RETURN NULL;
END $$;
CREATE TRIGGER workspace_counts_new_workspace AFTER INSERT ON workspaces
    FOR EACH ROW EXECUTE FUNCTION workspace_counts_new_workspace();

CREATE FUNCTION phone_numbers_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE workspace_number_counts SET numbers = numbers + 1 WHERE workspace_id = NEW.workspace_id;
    ELSE
        UPDATE workspace_number_counts SET numbers = numbers - 1 WHERE workspace_id = OLD.workspace_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER phone_numbers_count AFTER INSERT OR DELETE ON phone_numbers
    FOR EACH ROW EXECUTE FUNCTION phone_numbers_count();
