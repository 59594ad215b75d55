-- Version 2: the country and pricing catalogue, SIP trunk credentials, idempotent purchases.

-- Countries numbers can be bought in. `prefixes` is a comma-separated list of the national
-- prefixes DialNexa's country rules report; `requires_kyc` marks countries whose regulator
-- wants the buyer verified first.
CREATE TABLE countries (
    country_iso  TEXT PRIMARY KEY CHECK (length(country_iso) = 2),
    rule_id      TEXT NOT NULL UNIQUE,
    country_name TEXT NOT NULL,
    calling_code TEXT NOT NULL,
    max_length   BIGINT,
    prefixes     TEXT NOT NULL,
    requires_kyc BOOLEAN NOT NULL
);

INSERT INTO countries (country_iso, rule_id, country_name, calling_code, max_length, prefixes, requires_kyc) VALUES
    ('US', 'pcr_us0000000001', 'United States',  '1',  10, '2,3,4,5,6,7,8,9', false),
    ('CA', 'pcr_ca0000000001', 'Canada',         '1',  10, '2,3,4,5,6,7,8,9', false),
    ('GB', 'pcr_gb0000000001', 'United Kingdom', '44', 10, '1,2,3,7,8',       false),
    ('IN', 'pcr_in0000000001', 'India',          '91', 10, '1,2,7,8,9',       true),
    ('AU', 'pcr_au0000000001', 'Australia',      '61', 9,  '1,2,3,4,7,8',     true),
    ('DE', 'pcr_de0000000001', 'Germany',        '49', 11, '1,2,3,4,5,6,7,8,9', true);

-- Monthly rental and one-time setup price per provider, country and number type, in cents.
CREATE TABLE pricing (
    provider      TEXT NOT NULL,
    country_iso   TEXT NOT NULL REFERENCES countries (country_iso),
    type          TEXT NOT NULL CHECK (type IN ('local', 'toll_free', 'mobile')),
    monthly_cents BIGINT NOT NULL CHECK (monthly_cents >= 0),
    setup_cents   BIGINT NOT NULL CHECK (setup_cents >= 0),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (provider, country_iso, type)
);

-- 2024-01-01T00:00:00.000Z
INSERT INTO pricing (provider, country_iso, type, monthly_cents, setup_cents, created_at, updated_at)
SELECT provider, country_iso, type, monthly_cents, setup_cents, 1704067200000, 1704067200000 FROM (
    SELECT 'sandbox' AS provider, 'US' AS country_iso, 'local' AS type, 100 AS monthly_cents, 0 AS setup_cents
    UNION ALL SELECT 'sandbox', 'US', 'toll_free', 200, 0
    UNION ALL SELECT 'sandbox', 'CA', 'local', 100, 0
    UNION ALL SELECT 'sandbox', 'GB', 'local', 150, 0
    UNION ALL SELECT 'sandbox', 'GB', 'mobile', 350, 0
    UNION ALL SELECT 'sandbox', 'GB', 'toll_free', 400, 0
    UNION ALL SELECT 'sandbox', 'IN', 'local', 115, 0
    UNION ALL SELECT 'sandbox', 'IN', 'mobile', 250, 0
    UNION ALL SELECT 'sandbox', 'IN', 'toll_free', 500, 0
    UNION ALL SELECT 'sandbox', 'AU', 'local', 300, 0
    UNION ALL SELECT 'sandbox', 'AU', 'mobile', 600, 0
    UNION ALL SELECT 'sandbox', 'AU', 'toll_free', 1500, 0
    UNION ALL SELECT 'sandbox', 'DE', 'local', 125, 0
    UNION ALL SELECT 'sandbox', 'DE', 'mobile', 500, 0
    UNION ALL SELECT 'sandbox', 'DE', 'toll_free', 1000, 0
) AS prices;
INSERT INTO pricing (provider, country_iso, type, monthly_cents, setup_cents, created_at, updated_at)
SELECT 'plivo', country_iso, type, monthly_cents, setup_cents, created_at, updated_at
FROM pricing WHERE provider = 'sandbox';

-- Credentials of bring-your-own numbers. The password is sealed with an authenticated
-- cipher (nonce || ciphertext || tag); the key never touches the database.
CREATE TABLE sip_trunks (
    phone_number_id    TEXT PRIMARY KEY REFERENCES phone_numbers (id) ON DELETE CASCADE,
    termination_uri    TEXT NOT NULL,
    auth_mode          TEXT NOT NULL CHECK (auth_mode IN ('userpass', 'ip')),
    username           TEXT,
    password_sealed    BYTEA,
    CHECK ((auth_mode = 'userpass') = (username IS NOT NULL AND password_sealed IS NOT NULL))
);

-- Idempotency-Key replays: the first response to (workspace, key) is kept for 24 hours.
CREATE TABLE idempotency_keys (
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    -- SHA-256 of the request (method, path, body): the same key with another request is a 422.
    request_sha256 BYTEA NOT NULL,
    status         BIGINT NOT NULL,
    body           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
