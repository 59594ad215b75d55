-- Version 5: one release per number at a time, and which key sealed the database's secrets.

-- A release in progress: the row is the claim (see the SQLite migration).
CREATE TABLE phone_number_releases (
    phone_number_id TEXT PRIMARY KEY REFERENCES phone_numbers (id) ON DELETE CASCADE,
    started_at      BIGINT NOT NULL
);

-- The id (a digest, never the key) of the key that seals this database's SIP trunk passwords.
CREATE TABLE sealing_key (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    key_id     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
