-- Version 5: one release per number at a time, and which key sealed the database's secrets.

-- A release in progress: the row is the claim. Its primary key lets exactly one request (on
-- any replica) release a number at its provider; the row goes with the number, or is
-- removed when the provider refuses. A claim older than the longest request can live was
-- left by a process that died, and may be taken over.
CREATE TABLE phone_number_releases (
    phone_number_id TEXT PRIMARY KEY REFERENCES phone_numbers (id) ON DELETE CASCADE,
    started_at      INTEGER NOT NULL
) STRICT;

-- The id (a digest, never the key) of the key that seals this database's SIP trunk
-- passwords, so that starting with another key, or with none, is refused instead of making
-- every stored password unreadable.
CREATE TABLE sealing_key (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    key_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
