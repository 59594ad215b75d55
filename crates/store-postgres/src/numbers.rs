//! The workspace's numbers: read, list, summarise, stream, change, release, and their history.

use crate::queries::*;
use crate::rows::{corrupt, get};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_domain::{
    AgentId, E164, Money, PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId,
};
use switchboard_store::NumberStore;
use switchboard_store::{
    Actor, CallPeriod, CallTotals, HistoryAction, HistoryEntry, NumberFilter, NumberGroup,
    NumberGroupTotals, NumberStream, PageRequest, PatchError, PhoneNumberPatch, ReleaseClaim,
    STREAM_BUFFER, StoreError, routing_column, summary_sql,
};
use tokio_postgres::types::ToSql;

#[async_trait]
impl NumberStore for PostgresStore {
    async fn get_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        read_number(&*self.point_read_client().await?, workspace, id).await
    }

    async fn list_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        page: PageRequest,
    ) -> Result<(Vec<PhoneNumber>, u64), StoreError> {
        let (where_clause, args) = number_conditions(workspace, filter);
        // Only the workspace's own condition: its count is kept up to date in a table.
        let filtered = args.len() > 1;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let client = self.client().await?;
        let total: i64 = if filtered {
            client
                .query_one(
                    &format!("SELECT count(*) FROM phone_numbers WHERE {where_clause}"),
                    &params,
                )
                .await
                .map_err(map_error)?
                .get(0)
        } else {
            client
                .query_opt(
                    "SELECT numbers FROM workspace_number_counts WHERE workspace_id = $1",
                    &[&workspace.as_str()],
                )
                .await
                .map_err(map_error)?
                .map_or(0, |row| row.get(0))
        };
        let limit = i64::from(page.limit);
        let offset = page.offset() as i64;
        let mut page_params = params.clone();
        page_params.push(&limit);
        page_params.push(&offset);
        let rows = client
            .query(
                &format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {where_clause}
                     ORDER BY created_at, id LIMIT ${} OFFSET ${}",
                    args.len() + 1,
                    args.len() + 2
                ),
                &page_params,
            )
            .await
            .map_err(map_error)?;
        let items = rows
            .iter()
            .map(phone_number_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    async fn summarize_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        group_by: &[NumberGroup],
        period: Option<&CallPeriod>,
    ) -> Result<Vec<NumberGroupTotals>, StoreError> {
        let (where_clause, args) = number_conditions(workspace, filter);
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self
            .client()
            .await?
            .query(&summary_sql(&where_clause, group_by, period), &params)
            .await
            .map_err(map_error)?;
        let keys = group_by.len();
        let by_agent = group_by.contains(&NumberGroup::InboundAgent);
        let with_calls = period.is_some();
        let count =
            |row: &tokio_postgres::Row, i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        rows.iter()
            .map(|row| {
                let cents: i64 = row.get(keys + 1);
                let calls = with_calls.then(|| CallTotals {
                    calls: count(row, keys + 2),
                    answered: count(row, keys + 3),
                    answered_seconds: count(row, keys + 4),
                });
                let name_at = keys + if with_calls { 5 } else { 2 };
                Ok(NumberGroupTotals {
                    keys: (0..keys).map(|i| row.get::<_, Option<String>>(i)).collect(),
                    agent_name: if by_agent { row.get(name_at) } else { None },
                    count: count(row, keys),
                    monthly_cost: Money::from_cents(cents)
                        .map_err(|_| corrupt("monthly cost total", &cents.to_string()))?,
                    calls,
                })
            })
            .collect()
    }

    fn stream_phone_numbers(&self, workspace: &WorkspaceId, filter: &NumberFilter) -> NumberStream {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let (where_clause, args) = number_conditions(workspace, filter);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            // A portal in one transaction, fetched a batch at a time: the server keeps the
            // cursor, this process holds one batch, and ending early closes the cursor.
            let read = async {
                let mut client = pool.get().await.map_err(|e| {
                    StoreError::Unavailable(format!("no PostgreSQL connection: {e}"))
                })?;
                let tx = client.transaction().await.map_err(map_error)?;
                let statement = tx
                    .prepare(&format!(
                        "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {where_clause} ORDER BY created_at, id"
                    ))
                    .await
                    .map_err(map_error)?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                let portal = tx.bind(&statement, &params).await.map_err(map_error)?;
                const BATCH: i32 = 500;
                loop {
                    let rows = tx.query_portal(&portal, BATCH).await.map_err(map_error)?;
                    for row in &rows {
                        if sender.send(phone_number_from_row(row)).await.is_err() {
                            return Ok(());
                        }
                    }
                    if rows.len() < BATCH as usize {
                        return Ok(());
                    }
                }
            };
            if let Err(error) = read.await {
                let _ = sender.send(Err(error)).await;
            }
        });
        receiver
    }

    async fn find_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: &E164,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let client = self.point_read_client().await?;
        number_where(&*client, "phone_number", number.as_str(), workspace).await
    }

    async fn update_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        patch: PhoneNumberPatch,
        expected_revision: Option<i64>,
        actor: &Actor,
    ) -> Result<PhoneNumber, PatchError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let updated = apply_patch(&tx, workspace, id, patch, expected_revision, actor).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn update_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        ids: &[PhoneNumberId],
        patch: PhoneNumberPatch,
        dry_run: bool,
        actor: &Actor,
    ) -> Result<Vec<(PhoneNumber, PhoneNumber)>, PatchError> {
        let mut client = self.client().await?;
        // Dropped without a commit on any failure: all or nothing.
        let tx = client.transaction().await.map_err(map_error)?;
        let mut changed = Vec::with_capacity(ids.len());
        for id in ids {
            let before = read_number(&tx, workspace, id)
                .await?
                .ok_or_else(|| PatchError::MissingNumber(id.clone()))?;
            let after = apply_patch(&tx, workspace, id, patch.clone(), None, actor).await?;
            changed.push((before, after));
        }
        if dry_run {
            tx.rollback().await.map_err(map_error)?;
        } else {
            tx.commit().await.map_err(map_error)?;
        }
        Ok(changed)
    }

    async fn delete_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = lock_number(&tx, workspace, id).await? else {
            return Ok(false);
        };
        tx.execute(
            "DELETE FROM phone_numbers WHERE id = $1 AND workspace_id = $2",
            &[&id.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?;
        record_history(
            &tx,
            workspace,
            Some(&before),
            None,
            HistoryAction::Released,
            actor,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }

    async fn begin_release(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        expected_revision: Option<i64>,
        stale_before: Timestamp,
    ) -> Result<ReleaseClaim, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        // The row lock orders this claim after any PATCH in flight, so the revision read
        // here is the one the claim is judged on.
        let Some(number) = lock_number(&tx, workspace, id).await? else {
            return Ok(ReleaseClaim::NotFound);
        };
        if let Some(refusal) = ReleaseClaim::refusal(&number, expected_revision) {
            return Ok(refusal);
        }
        let claimed = tx
            .execute(
                "INSERT INTO phone_number_releases (phone_number_id, started_at) VALUES ($1, $2)
                 ON CONFLICT (phone_number_id) DO UPDATE SET started_at = excluded.started_at
                 WHERE phone_number_releases.started_at < $3",
                &[
                    &id.as_str(),
                    &Timestamp::now().as_millis(),
                    &stale_before.as_millis(),
                ],
            )
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(if claimed == 1 {
            ReleaseClaim::Claimed(Box::new(number))
        } else {
            ReleaseClaim::InProgress
        })
    }

    async fn abandon_release(&self, id: &PhoneNumberId) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM phone_number_releases WHERE phone_number_id = $1",
                &[&id.as_str()],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn phone_number_history(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        page: PageRequest,
    ) -> Result<(Vec<HistoryEntry>, u64), StoreError> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM phone_number_history WHERE workspace_id = $1 AND phone_number_id = $2",
                &[&workspace.as_str(), &id.as_str()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        let rows = client
            .query(
                "SELECT action, actor, request_id, changes, created_at FROM phone_number_history
                 WHERE workspace_id = $1 AND phone_number_id = $2 ORDER BY seq DESC LIMIT $3 OFFSET $4",
                &[&workspace.as_str(), &id.as_str(), &i64::from(page.limit), &(page.offset() as i64)],
            )
            .await
            .map_err(map_error)?;
        let entries = rows
            .iter()
            .map(|row| {
                let action: String = get(row, 0)?;
                let changes: String = get(row, 3)?;
                Ok(HistoryEntry {
                    action: HistoryAction::parse(&action)
                        .ok_or_else(|| corrupt("history action", &action))?,
                    actor: get(row, 1)?,
                    request_id: get(row, 2)?,
                    changes: serde_json::from_str(&changes)
                        .map_err(|_| corrupt("history changes", &changes))?,
                    at: Timestamp::from_millis(get(row, 4)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((entries, u64::try_from(total).unwrap_or(0)))
    }
}

/// A partial update of one number inside `tx`, with its history entry (see
/// [`NumberStore::update_phone_number`]); the caller commits.
async fn apply_patch(
    tx: &deadpool_postgres::Transaction<'_>,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
    patch: PhoneNumberPatch,
    expected_revision: Option<i64>,
    actor: &Actor,
) -> Result<PhoneNumber, PatchError> {
    // One default change per workspace at a time, across replicas.
    if patch.is_default == Some(true) {
        tx.execute(
            "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE",
            &[&workspace.as_str()],
        )
        .await
        .map_err(map_error)?;
    }
    let current = read_number(tx, workspace, id)
        .await?
        .ok_or(PatchError::NumberNotFound)?;
    if expected_revision.is_some_and(|r| r != current.revision) {
        return Err(PatchError::Changed);
    }
    let before = current.clone();
    for (field, agent) in patch.agents_named() {
        if !agent_exists(tx, workspace, agent).await? {
            return Err(PatchError::UnknownAgent(field));
        }
    }
    let Some(next) = patch.apply_to(&current) else {
        return Ok(before);
    };
    let now = Timestamp::now().as_millis();
    if next.is_default && !current.is_default {
        let previous = tx
            .query_opt(
                "SELECT id FROM phone_numbers WHERE workspace_id = $1 AND is_default",
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
        if let Some(previous) =
            previous.and_then(|row| PhoneNumberId::parse(&row.get::<_, String>(0)))
        {
            let previous_before = read_number(tx, workspace, &previous).await?;
            tx.execute(
                "UPDATE phone_numbers SET is_default = false, updated_at = $1, revision = revision + 1 WHERE id = $2",
                &[&now, &previous.as_str()],
            )
            .await
            .map_err(map_error)?;
            let previous_after = read_number(tx, workspace, &previous).await?;
            record_history(
                tx,
                workspace,
                previous_before.as_ref(),
                previous_after.as_ref(),
                HistoryAction::Updated,
                actor,
            )
            .await?;
        }
    }
    tx.execute(
        "UPDATE phone_numbers SET nickname = $1, label = $2, inbound_agent_id = $3, outbound_agent_id = $4,
             is_default = $5, routing = $6, updated_at = $7, revision = revision + 1
         WHERE id = $8 AND workspace_id = $9",
        &[
            &next.nickname,
            &next.label,
            &next.inbound_agent_id.as_ref().map(AgentId::as_str),
            &next.outbound_agent_id.as_ref().map(AgentId::as_str),
            &next.is_default,
            &routing_column(next.routing.as_ref()),
            &now,
            &id.as_str(),
            &workspace.as_str(),
        ],
    )
    .await
    .map_err(map_error)?;
    let updated = read_number(tx, workspace, id)
        .await?
        .ok_or(PatchError::NumberNotFound)?;
    record_history(
        tx,
        workspace,
        Some(&before),
        Some(&updated),
        HistoryAction::Updated,
        actor,
    )
    .await?;
    Ok(updated)
}
