//! Schema migrations, with the same version stamps as the SQLite backend.

use crate::map_error;
use switchboard_domain::Timestamp;
use switchboard_store::{MigrationReport, SCHEMA_VERSION, StoreError};
use tokio_postgres::Client;

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

/// Any constant works; it only has to be the same for every replica.
const MIGRATION_LOCK: i64 = 0x5357_4254_4348; // "SWBTCH"

async fn current_version(client: &Client) -> Result<Option<i64>, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(map_error)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await
        .map_err(map_error)?;
    Ok(row.get::<_, Option<i64>>(0))
}

pub(crate) async fn migrate(client: &mut Client) -> Result<MigrationReport, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(map_error)?;
    let result = apply(client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(map_error);
    let report = result?;
    unlock?;
    Ok(report)
}

async fn apply(client: &mut Client) -> Result<MigrationReport, StoreError> {
    let from_version = current_version(client).await?.unwrap_or(0);
    if from_version > SCHEMA_VERSION {
        return Err(newer_schema(from_version));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from_version) {
        let tx = client.transaction().await.map_err(map_error)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await
        .map_err(map_error)?;
        tx.batch_execute(sql).await.map_err(map_error)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &Timestamp::now().as_millis()],
        )
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        tracing::info!(version, "applied migration");
    }
    Ok(MigrationReport {
        from_version,
        to_version: SCHEMA_VERSION,
    })
}

/// The schema must be exactly `SCHEMA_VERSION`.
pub(crate) async fn check(client: &Client) -> Result<(), StoreError> {
    match current_version(client).await? {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(version) if version > SCHEMA_VERSION => Err(newer_schema(version)),
        Some(version) => Err(StoreError::Schema(format!(
            "the database schema is at version {version}, this build needs version {SCHEMA_VERSION}: run `switchboard migrate` first"
        ))),
        None => Err(StoreError::Schema(
            "the database has no Switchboard schema yet: run `switchboard migrate` first".into(),
        )),
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
}
