//! Schema migrations. Version stamps are shared with every other backend
//! ([`switchboard_store::SCHEMA_VERSION`]); each backend has its own SQL.

use crate::map_error;
use rusqlite::{Connection, OptionalExtension};
use switchboard_domain::Timestamp;
use switchboard_store::{MigrationReport, SCHEMA_VERSION, StoreError};

/// `(version, SQL)` in order. The last version must equal `SCHEMA_VERSION`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (
        2,
        include_str!("../migrations/0002_catalogue_purchases_keys.sql"),
    ),
    (3, include_str!("../migrations/0003_number_counts.sql")),
    (
        4,
        include_str!("../migrations/0004_history_and_revisions.sql"),
    ),
    (
        5,
        include_str!("../migrations/0005_releases_and_key_id.sql"),
    ),
    (6, include_str!("../migrations/0006_events.sql")),
    (7, include_str!("../migrations/0007_webhooks.sql")),
    (
        8,
        include_str!("../migrations/0008_destinations_and_routing.sql"),
    ),
    (9, include_str!("../migrations/0009_calls.sql")),
    (10, include_str!("../migrations/0010_carrier_findings.sql")),
    (
        11,
        include_str!("../migrations/0011_users_and_sessions.sql"),
    ),
];

fn current_version(conn: &Connection) -> Result<Option<i64>, StoreError> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(map_error)?;
    if has_table.is_none() {
        return Ok(None);
    }
    conn.query_row("SELECT max(version) FROM schema_migrations", [], |row| {
        row.get(0)
    })
    .map_err(map_error)
}

fn is_empty(conn: &Connection) -> Result<bool, StoreError> {
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |row| row.get(0),
        )
        .map_err(map_error)?;
    Ok(tables == 0)
}

/// Applies every missing migration, each in its own transaction with its version stamp.
pub(crate) fn migrate(conn: &mut Connection) -> Result<MigrationReport, StoreError> {
    let from_version = match current_version(conn)? {
        Some(version) => version,
        None if is_empty(conn)? => 0,
        None => {
            return Err(StoreError::Schema(
                "the database has tables but no schema_migrations table: it is not a Switchboard database".into(),
            ));
        }
    };
    if from_version > SCHEMA_VERSION {
        return Err(newer_schema(from_version));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from_version) {
        let tx = conn.transaction().map_err(map_error)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT",
        )
        .map_err(map_error)?;
        tx.execute_batch(sql).map_err(map_error)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, Timestamp::now().as_millis()),
        )
        .map_err(map_error)?;
        tx.commit().map_err(map_error)?;
        tracing::info!(version, "applied migration");
    }
    Ok(MigrationReport {
        from_version,
        to_version: SCHEMA_VERSION,
    })
}

/// A brand-new (empty) database is migrated on the spot; any other must already be at
/// `SCHEMA_VERSION`.
pub(crate) fn migrate_if_empty_then_check(conn: &mut Connection) -> Result<(), StoreError> {
    match current_version(conn)? {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(version) if version > SCHEMA_VERSION => Err(newer_schema(version)),
        Some(version) => Err(StoreError::Schema(format!(
            "the database schema is at version {version}, this build needs version {SCHEMA_VERSION}: run `switchboard migrate` first"
        ))),
        None => migrate(conn).map(|_| ()),
    }
}

fn newer_schema(version: i64) -> StoreError {
    StoreError::Schema(format!(
        "the database schema is at version {version}, newer than this build knows ({SCHEMA_VERSION}): upgrade Switchboard"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_migration_is_the_schema_version() {
        assert_eq!(MIGRATIONS.last().map(|(v, _)| *v), Some(SCHEMA_VERSION));
    }

    /// Keys that held every scope before webhooks existed still hold every scope after
    /// versions 7 (webhooks:manage), 9 (calls:read) and 11 (users:manage); narrower keys stay
    /// as they were.
    #[test]
    fn full_scope_keys_gain_webhooks_manage() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT",
        )
        .expect("table");
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v < 7) {
            conn.execute_batch(sql).expect("migration");
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
                [version],
            )
            .expect("version");
        }
        conn.execute_batch(
            "INSERT INTO workspaces (id, name, created_at, updated_at) VALUES ('ws_aaaaaaaaaaaa', 'w', 0, 0);
             INSERT INTO api_keys (id, workspace_id, name, secret_sha256, scopes, created_at) VALUES
                 ('fullfullfullfu', 'ws_aaaaaaaaaaaa', 'full', zeroblob(32),
                  'phone_numbers:read,phone_numbers:write,agents:read,agents:write,api_keys:manage', 0),
                 ('readreadreadre', 'ws_aaaaaaaaaaaa', 'read', zeroblob(32), 'phone_numbers:read', 0);",
        )
        .expect("keys");
        let report = migrate(&mut conn).expect("migrate");
        assert_eq!(
            (report.from_version, report.to_version),
            (6, SCHEMA_VERSION)
        );
        let scopes = |id: &str| -> String {
            conn.query_row("SELECT scopes FROM api_keys WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .expect("scopes")
        };
        assert_eq!(
            scopes("fullfullfullfu"),
            switchboard_domain::Scopes::all().to_list()
        );
        assert_eq!(scopes("readreadreadre"), "phone_numbers:read");
    }
}
