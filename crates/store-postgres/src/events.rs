//! The workspace's change feed.

use crate::queries::*;
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_domain::WorkspaceId;
use switchboard_store::EventStore;
use switchboard_store::{Event, EventCursor, EventFilter, PageRequest, StoreError};
use tokio_postgres::types::ToSql;

#[async_trait]
impl EventStore for PostgresStore {
    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        let (where_clause, mut args) = event_conditions(workspace, filter);
        let client = self.client().await?;
        fn params(args: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
            args.iter()
                .map(|a| a.as_ref() as &(dyn ToSql + Sync))
                .collect()
        }
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM events WHERE {where_clause}"),
                &params(&args),
            )
            .await
            .map_err(map_error)?
            .get(0);
        args.push(Box::new(i64::from(page.limit)));
        args.push(Box::new(page.offset() as i64));
        let rows = client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE {where_clause} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
                    args.len() - 1,
                    args.len()
                ),
                &params(&args),
            )
            .await
            .map_err(map_error)?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((events, u64::try_from(total).unwrap_or(0)))
    }

    async fn events_after(
        &self,
        workspace: &WorkspaceId,
        after: EventCursor,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        // Only rows of transactions older than the oldest one still running: any of those
        // could yet commit a row that sorts before what this read returns.
        let (where_clause, mut args) = event_conditions(workspace, filter);
        args.push(Box::new(after.txid));
        args.push(Box::new(after.seq));
        args.push(Box::new(i64::from(limit)));
        let n = args.len();
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE {where_clause} AND (txid, seq) > (${}, ${})
                       AND txid < txid_snapshot_xmin(txid_current_snapshot())
                     ORDER BY txid, seq LIMIT ${n}",
                    n - 2,
                    n - 1
                ),
                &params,
            )
            .await
            .map_err(map_error)?;
        rows.iter().map(event_from_row).collect()
    }
}
