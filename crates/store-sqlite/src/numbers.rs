//! The workspace's numbers: read, list, summarise, stream, change, release, and their history.

use crate::queries::*;
use crate::rows::corrupt;
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use switchboard_domain::{E164, Money, PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::NumberStore;
use switchboard_store::{
    Actor, CallPeriod, CallTotals, HistoryAction, HistoryEntry, NumberFilter, NumberGroup,
    NumberGroupTotals, NumberStream, PageRequest, PatchError, PhoneNumberPatch, ReleaseClaim,
    STREAM_BUFFER, StoreError, summary_sql,
};

#[async_trait]
impl NumberStore for SqliteStore {
    async fn get_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let workspace = workspace.clone();
        let id = id.clone();
        self.lookup(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE id = ?1 AND workspace_id = ?2"
                ))
                .map_err(map_error)?;
            stmt.query_row([id.as_str(), workspace.as_str()], phone_number_from_row)
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn list_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        page: PageRequest,
    ) -> Result<(Vec<PhoneNumber>, u64), StoreError> {
        let workspace = workspace.clone();
        let filter = filter.clone();
        self.read(move |conn| {
            let (where_clause, args) = number_conditions(&workspace, &filter);
            // Only the workspace's own condition: its count is kept up to date in a table.
            let filtered = args.len() > 1;
            let params = rusqlite::params_from_iter(args.iter());
            let total: i64 = if filtered {
                conn.prepare_cached(&format!(
                    "SELECT count(*) FROM phone_numbers WHERE {where_clause}"
                ))
                .and_then(|mut stmt| stmt.query_row(params.clone(), |row| row.get(0)))
                .map_err(map_error)?
            } else {
                conn.prepare_cached(
                    "SELECT numbers FROM workspace_number_counts WHERE workspace_id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([workspace.as_str()], |row| row.get(0))
                        .optional()
                })
                .map_err(map_error)?
                .unwrap_or(0)
            };
            // The page is found on the index alone (no table rows read for the skipped ones),
            // then its rows are fetched: a deep page costs an index walk, not a table scan.
            let mut page_args: Vec<&dyn rusqlite::ToSql> =
                args.iter().map(|a| a as &dyn rusqlite::ToSql).collect();
            let limit = i64::from(page.limit);
            let offset = page.offset() as i64;
            page_args.push(&limit);
            page_args.push(&offset);
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE rowid IN (
                         SELECT rowid FROM phone_numbers WHERE {where_clause}
                         ORDER BY created_at, id LIMIT ? OFFSET ?)
                     ORDER BY created_at, id"
                ))
                .map_err(map_error)?;
            let items = stmt
                .query_map(rusqlite::params_from_iter(page_args), phone_number_from_row)
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok((items, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn summarize_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        group_by: &[NumberGroup],
        period: Option<&CallPeriod>,
    ) -> Result<Vec<NumberGroupTotals>, StoreError> {
        let (where_clause, args) = number_conditions(workspace, filter);
        let group_by = group_by.to_vec();
        let sql = summary_sql(&where_clause, &group_by, period);
        let with_calls = period.is_some();
        self.read(move |conn| {
            let mut stmt = conn.prepare(&sql).map_err(map_error)?;
            let keys = group_by.len();
            let by_agent = group_by.contains(&NumberGroup::InboundAgent);
            let count = |row: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<u64> {
                Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
            };
            stmt.query_map(rusqlite::params_from_iter(args.iter()), |row| {
                let cents: i64 = row.get(keys + 1)?;
                let calls = if with_calls {
                    Some(CallTotals {
                        calls: count(row, keys + 2)?,
                        answered: count(row, keys + 3)?,
                        answered_seconds: count(row, keys + 4)?,
                    })
                } else {
                    None
                };
                let name_at = keys + if with_calls { 5 } else { 2 };
                Ok(NumberGroupTotals {
                    keys: (0..keys)
                        .map(|i| row.get::<_, Option<String>>(i))
                        .collect::<rusqlite::Result<_>>()?,
                    agent_name: if by_agent { row.get(name_at)? } else { None },
                    count: count(row, keys)?,
                    monthly_cost: Money::from_cents(cents)
                        .map_err(|_| corrupt("monthly cost total", &cents.to_string()))?,
                    calls,
                })
            })
            .map_err(map_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(map_error)
        })
        .await
    }

    fn stream_phone_numbers(&self, workspace: &WorkspaceId, filter: &NumberFilter) -> NumberStream {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let (where_clause, args) = number_conditions(workspace, filter);
        let pool = self.readers.clone();
        // One read transaction: the stream is a consistent snapshot, however long the
        // consumer takes.
        tokio::task::spawn_blocking(move || {
            let read = || -> Result<(), StoreError> {
                let conn = pool
                    .get()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {where_clause} ORDER BY created_at, id"
                    ))
                    .map_err(map_error)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(args.iter()))
                    .map_err(map_error)?;
                while let Some(row) = rows.next().map_err(map_error)? {
                    let number = phone_number_from_row(row).map_err(map_error)?;
                    if sender.blocking_send(Ok(number)).is_err() {
                        // The consumer went away: stop reading.
                        return Ok(());
                    }
                }
                Ok(())
            };
            if let Err(error) = read() {
                let _ = sender.blocking_send(Err(error));
            }
        });
        receiver
    }

    async fn find_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: &E164,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let (workspace, number) = (workspace.clone(), number.as_str().to_owned());
        self.lookup(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE phone_number = ?1 AND workspace_id = ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([number.as_str(), workspace.as_str()], phone_number_from_row)
                    .optional()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn update_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        patch: PhoneNumberPatch,
        expected_revision: Option<i64>,
        actor: &Actor,
    ) -> Result<PhoneNumber, PatchError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            Ok(apply_patch(
                tx,
                &workspace,
                &id,
                patch,
                expected_revision,
                &actor,
            ))
        })
        .await?
    }

    async fn update_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        ids: &[PhoneNumberId],
        patch: PhoneNumberPatch,
        dry_run: bool,
        actor: &Actor,
    ) -> Result<Vec<(PhoneNumber, PhoneNumber)>, PatchError> {
        let (workspace, ids, actor) = (workspace.clone(), ids.to_vec(), actor.clone());
        self.transaction(!dry_run, move |tx| {
            let mut changed = Vec::with_capacity(ids.len());
            for id in ids {
                let before = read_number(tx, &workspace, &id)?
                    .ok_or_else(|| PatchError::MissingNumber(id.clone()))?;
                let after = apply_patch(tx, &workspace, &id, patch.clone(), None, &actor)?;
                changed.push((before, after));
            }
            Ok(changed)
        })
        .await
    }

    async fn delete_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(before) = read_number(tx, &workspace, &id)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM phone_numbers WHERE id = ?1 AND workspace_id = ?2",
                [id.as_str(), workspace.as_str()],
            )
            .map_err(map_error)?;
            record_history(
                tx,
                &workspace,
                Some(&before),
                None,
                HistoryAction::Released,
                &actor,
            )?;
            Ok(true)
        })
        .await
    }

    async fn begin_release(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        expected_revision: Option<i64>,
        stale_before: Timestamp,
    ) -> Result<ReleaseClaim, StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.write(move |tx| {
            let Some(number) = read_number(tx, &workspace, &id)? else {
                return Ok(ReleaseClaim::NotFound);
            };
            if let Some(refusal) = ReleaseClaim::refusal(&number, expected_revision) {
                return Ok(refusal);
            }
            let claimed = tx
                .execute(
                    "INSERT INTO phone_number_releases (phone_number_id, started_at) VALUES (?1, ?2)
                     ON CONFLICT (phone_number_id) DO UPDATE SET started_at = excluded.started_at
                     WHERE phone_number_releases.started_at < ?3",
                    params![id.as_str(), Timestamp::now().as_millis(), stale_before.as_millis()],
                )
                .map_err(map_error)?;
            Ok(if claimed == 1 {
                ReleaseClaim::Claimed(Box::new(number))
            } else {
                ReleaseClaim::InProgress
            })
        })
        .await
    }

    async fn abandon_release(&self, id: &PhoneNumberId) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM phone_number_releases WHERE phone_number_id = ?1",
                [id.as_str()],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn phone_number_history(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        page: PageRequest,
    ) -> Result<(Vec<HistoryEntry>, u64), StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.read(move |conn| {
            let total: i64 = conn
                .query_row(
                    "SELECT count(*) FROM phone_number_history WHERE workspace_id = ?1 AND phone_number_id = ?2",
                    [workspace.as_str(), id.as_str()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT action, actor, request_id, changes, created_at FROM phone_number_history
                     WHERE workspace_id = ?1 AND phone_number_id = ?2 ORDER BY seq DESC LIMIT ?3 OFFSET ?4",
                )
                .map_err(map_error)?;
            let entries = stmt
                .query_map(
                    params![workspace.as_str(), id.as_str(), i64::from(page.limit), page.offset() as i64],
                    |row| {
                        let action: String = row.get(0)?;
                        let changes: String = row.get(3)?;
                        Ok(HistoryEntry {
                            action: HistoryAction::parse(&action).ok_or_else(|| corrupt("history action", &action))?,
                            actor: row.get(1)?,
                            request_id: row.get(2)?,
                            changes: serde_json::from_str(&changes).map_err(|_| corrupt("history changes", &changes))?,
                            at: Timestamp::from_millis(row.get(4)?),
                        })
                    },
                )
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok((entries, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }
}
