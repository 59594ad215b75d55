//! The workspace's change feed.

use crate::queries::*;
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use switchboard_domain::WorkspaceId;
use switchboard_store::EventStore;
use switchboard_store::{Event, EventCursor, EventFilter, PageRequest, StoreError};

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        let (where_clause, mut args) = event_conditions(workspace, filter);
        self.read(move |conn| {
            let total: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM events WHERE {where_clause}"))
                .and_then(|mut stmt| {
                    stmt.query_row(rusqlite::params_from_iter(args.iter()), |row| row.get(0))
                })
                .map_err(map_error)?;
            args.push(SqlValue::Integer(i64::from(page.limit)));
            args.push(SqlValue::Integer(page.offset() as i64));
            let events = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE {where_clause} ORDER BY seq DESC LIMIT ? OFFSET ?"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(rusqlite::params_from_iter(args.iter()), event_from_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(map_error)?;
            Ok((events, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn events_after(
        &self,
        workspace: &WorkspaceId,
        after: EventCursor,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        // One writer at a time: `seq` grows in commit order, so every event after `after`
        // that a later read can see is after it in `seq` too.
        let (where_clause, mut args) = event_conditions(workspace, filter);
        args.push(SqlValue::Integer(after.seq));
        args.push(SqlValue::Integer(i64::from(limit)));
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE {where_clause} AND seq > ? ORDER BY seq LIMIT ?"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(rusqlite::params_from_iter(args.iter()), event_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(map_error)
        })
        .await
    }
}
