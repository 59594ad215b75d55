//! Webhook endpoints and the delivery queue, on SQLite.
//!
//! Leases are taken in an immediate write transaction, which SQLite runs one at a time across
//! every process on the file, so two replicas never take the same delivery.

use crate::outbox::record_event;
use crate::rows::{corrupt, parse_id};
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use switchboard_domain::{Timestamp, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};
use switchboard_store::{
    Actor, AttemptResult, DeliveryAttempt, DeliveryState, FinishedAttempt, InFlight,
    LEASE_CANDIDATES_PER_SLOT, LeasedDelivery, NewEvent, NewWebhookEndpoint, PageRequest,
    QueueStats, StoreError, WebhookDelivery, WebhookEndpoint, WebhookEndpointUpdate, WebhookStore,
    event_types_column, event_types_from_column, webhook_body,
};

const ENDPOINT_COLUMNS: &str = "id, workspace_id, url, description, event_types, enabled, \
    disabled_reason, disabled_at, failing_since, secret_sealed, previous_secret_sealed, \
    previous_secret_expires_at, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.message_id, d.event_type, d.state, \
    d.attempt_count, d.next_attempt_at, d.attempts, d.created_at";

fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    let types: String = row.get(4)?;
    Ok(WebhookEndpoint {
        id: parse_id(row.get(0)?, WebhookEndpointId::parse, "webhook endpoint id")?,
        workspace_id: parse_id(row.get(1)?, WorkspaceId::parse, "workspace id")?,
        url: row.get(2)?,
        description: row.get(3)?,
        event_types: event_types_from_column(&types),
        enabled: row.get(5)?,
        disabled_reason: row.get(6)?,
        disabled_at: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        failing_since: row.get::<_, Option<i64>>(8)?.map(Timestamp::from_millis),
        secret_sealed: row.get(9)?,
        previous_secret_sealed: row.get(10)?,
        previous_secret_expires_at: row.get::<_, Option<i64>>(11)?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(row.get(12)?),
        updated_at: Timestamp::from_millis(row.get(13)?),
    })
}

/// A delivery from the first columns of `row`, in [`DELIVERY_COLUMNS`] order.
fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
    let state: String = row.get(4)?;
    let attempts: String = row.get(7)?;
    Ok(WebhookDelivery {
        id: parse_id(row.get(0)?, WebhookDeliveryId::parse, "webhook delivery id")?,
        endpoint_id: parse_id(row.get(1)?, WebhookEndpointId::parse, "webhook endpoint id")?,
        message_id: row.get(2)?,
        event_type: row.get(3)?,
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt("delivery state", &state))?,
        attempt_count: row.get(5)?,
        next_attempt_at: row.get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
        attempts: serde_json::from_str(&attempts)
            .map_err(|_| corrupt("delivery attempts", &attempts))?,
        created_at: Timestamp::from_millis(row.get(8)?),
    })
}

fn read_endpoint(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &WebhookEndpointId,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND workspace_id = ?2"
        ),
        [id.as_str(), workspace.as_str()],
        endpoint_from_row,
    )
    .optional()
    .map_err(map_error)
}

/// An endpoint by id alone (the worker knows no workspace).
fn read_endpoint_by_id(conn: &Connection, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
    conn.query_row(
        &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"),
        [id],
        endpoint_from_row,
    )
    .optional()
    .map_err(map_error)
}

fn read_delivery(
    conn: &Connection,
    id: &WebhookDeliveryId,
) -> Result<Option<WebhookDelivery>, StoreError> {
    conn.query_row(
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = ?1"),
        [id.as_str()],
        delivery_from_row,
    )
    .optional()
    .map_err(map_error)
}

/// A leased delivery with its endpoint's URL and secrets and its body.
fn read_leased(
    conn: &Connection,
    id: &str,
    now: Timestamp,
) -> Result<Option<LeasedDelivery>, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {DELIVERY_COLUMNS}, e.url, e.secret_sealed,
                    CASE WHEN e.previous_secret_expires_at > ?2 THEN e.previous_secret_sealed END,
                    coalesce(ev.created_at, d.created_at),
                    coalesce(d.ping_data, ev.data, json_object('changes', json(ev.changes))),
                    e.workspace_id
             FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id
             LEFT JOIN events ev ON ev.seq = d.event_seq
             WHERE d.id = ?1"
        ),
        params![id, now.as_millis()],
        |row| {
            let delivery = delivery_from_row(row)?;
            let data: String = row.get(13)?;
            Ok(LeasedDelivery {
                body: webhook_body(
                    &delivery.event_type,
                    Timestamp::from_millis(row.get(12)?),
                    &data,
                ),
                delivery,
                workspace_id: parse_id(row.get(14)?, WorkspaceId::parse, "workspace id")?,
                url: row.get(9)?,
                secret_sealed: row.get(10)?,
                previous_secret_sealed: row.get(11)?,
            })
        },
    )
    .optional()
    .map_err(map_error)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        new: NewWebhookEndpoint,
        actor: &Actor,
    ) -> Result<WebhookEndpoint, StoreError> {
        let (workspace, actor) = (workspace.clone(), actor.clone());
        self.write(move |tx| {
            let id = WebhookEndpointId::generate();
            let now = Timestamp::now();
            tx.execute(
                "INSERT INTO webhook_endpoints (id, workspace_id, url, description, event_types, secret_sealed, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    id.as_str(),
                    workspace.as_str(),
                    new.url,
                    new.description,
                    event_types_column(&new.event_types),
                    new.secret_sealed,
                    now.as_millis()
                ],
            )
            .map_err(map_error)?;
            let endpoint = read_endpoint(tx, &workspace, &id)?
                .ok_or_else(|| StoreError::NotFound(format!("webhook endpoint {id}")))?;
            if let Some(event) = NewEvent::of_webhook_endpoint(None, Some(&endpoint), &actor, now) {
                record_event(tx, &workspace, &event)?;
            }
            Ok(endpoint)
        })
        .await
    }

    async fn list_webhook_endpoints(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<(Vec<WebhookEndpoint>, u64), StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            let total: i64 = conn
                .query_row(
                    "SELECT count(*) FROM webhook_endpoints WHERE workspace_id = ?1",
                    [workspace.as_str()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = ?1
                     ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
                ))
                .map_err(map_error)?;
            let endpoints = stmt
                .query_map(
                    params![
                        workspace.as_str(),
                        i64::from(page.limit),
                        page.offset() as i64
                    ],
                    endpoint_from_row,
                )
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok((endpoints, total as u64))
        })
        .await
    }

    async fn get_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.read(move |conn| read_endpoint(conn, &workspace, &id))
            .await
    }

    async fn update_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        update: WebhookEndpointUpdate,
        actor: &Actor,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(before) = read_endpoint(tx, &workspace, &id)? else {
                return Ok(None);
            };
            let now = Timestamp::now();
            let mut endpoint = before.clone();
            update.apply_to(&mut endpoint, now);
            tx.execute(
                "UPDATE webhook_endpoints SET url = ?1, description = ?2, event_types = ?3, enabled = ?4,
                     disabled_reason = ?5, disabled_at = ?6, failing_since = ?7, updated_at = ?8
                 WHERE id = ?9",
                params![
                    endpoint.url,
                    endpoint.description,
                    event_types_column(&endpoint.event_types),
                    endpoint.enabled,
                    endpoint.disabled_reason,
                    endpoint.disabled_at.map(Timestamp::as_millis),
                    endpoint.failing_since.map(Timestamp::as_millis),
                    now.as_millis(),
                    id.as_str()
                ],
            )
            .map_err(map_error)?;
            let after = read_endpoint(tx, &workspace, &id)?;
            if let Some(event) = NewEvent::of_webhook_endpoint(Some(&before), after.as_ref(), &actor, now) {
                record_event(tx, &workspace, &event)?;
            }
            Ok(after)
        })
        .await
    }

    async fn delete_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(before) = read_endpoint(tx, &workspace, &id)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM webhook_endpoints WHERE id = ?1 AND workspace_id = ?2",
                [id.as_str(), workspace.as_str()],
            )
            .map_err(map_error)?;
            if let Some(event) =
                NewEvent::of_webhook_endpoint(Some(&before), None, &actor, Timestamp::now())
            {
                record_event(tx, &workspace, &event)?;
            }
            Ok(true)
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        secret_sealed: Vec<u8>,
        previous_expires_at: Timestamp,
        actor: &Actor,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let now = Timestamp::now();
            tx.execute(
                "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed,
                     previous_secret_expires_at = ?1, secret_sealed = ?2, updated_at = ?3
                 WHERE id = ?4 AND workspace_id = ?5",
                params![
                    previous_expires_at.as_millis(),
                    secret_sealed,
                    now.as_millis(),
                    id.as_str(),
                    workspace.as_str()
                ],
            )
            .map_err(map_error)?;
            let rotated = read_endpoint(tx, &workspace, &id)?;
            if let Some(endpoint) = &rotated {
                record_event(
                    tx,
                    &workspace,
                    &NewEvent::of_secret_rotation(endpoint, &actor, now),
                )?;
            }
            Ok(rotated)
        })
        .await
    }

    async fn list_webhook_deliveries(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        page: PageRequest,
    ) -> Result<Option<(Vec<WebhookDelivery>, u64)>, StoreError> {
        let (workspace, endpoint) = (workspace.clone(), endpoint.clone());
        self.read(move |conn| {
            if read_endpoint(conn, &workspace, &endpoint)?.is_none() {
                return Ok(None);
            }
            let total: i64 = conn
                .query_row(
                    "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = ?1",
                    [endpoint.as_str()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.endpoint_id = ?1
                     ORDER BY d.created_at DESC, d.event_seq DESC, d.id DESC LIMIT ?2 OFFSET ?3"
                ))
                .map_err(map_error)?;
            let deliveries = stmt
                .query_map(
                    params![
                        endpoint.as_str(),
                        i64::from(page.limit),
                        page.offset() as i64
                    ],
                    delivery_from_row,
                )
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok(Some((deliveries, total as u64)))
        })
        .await
    }

    async fn retry_webhook_delivery(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        id: &WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let (workspace, endpoint, id) = (workspace.clone(), endpoint.clone(), id.clone());
        self.write(move |tx| {
            let now = Timestamp::now().as_millis();
            let changed = tx
                .execute(
                    "UPDATE webhook_deliveries SET state = 'pending', attempt_count = 0,
                         next_attempt_at = ?1, updated_at = ?1
                     WHERE id = ?2 AND endpoint_id = ?3
                       AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE workspace_id = ?4)",
                    params![now, id.as_str(), endpoint.as_str(), workspace.as_str()],
                )
                .map_err(map_error)?;
            if changed == 0 {
                return Ok(None);
            }
            read_delivery(tx, &id)
        })
        .await
    }

    async fn create_webhook_ping(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        owner: &str,
        leased_until: Timestamp,
    ) -> Result<Option<LeasedDelivery>, StoreError> {
        let (workspace, endpoint, owner) = (workspace.clone(), endpoint.clone(), owner.to_owned());
        self.write(move |tx| {
            if read_endpoint(tx, &workspace, &endpoint)?.is_none() {
                return Ok(None);
            }
            let id = WebhookDeliveryId::generate();
            let now = Timestamp::now();
            tx.execute(
                "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, ordering_key, next_attempt_at,
                     leased_by, leased_until, ping_data, created_at, updated_at)
                 VALUES (?1, ?2, ?1, 'ping', ?1, ?3, ?4, ?5, ?6, ?3, ?3)",
                params![
                    id.as_str(),
                    endpoint.as_str(),
                    now.as_millis(),
                    owner,
                    leased_until.as_millis(),
                    serde_json::json!({"webhook_endpoint_id": endpoint.as_str()}).to_string()
                ],
            )
            .map_err(map_error)?;
            read_leased(tx, id.as_str(), now)
        })
        .await
    }

    async fn replay_webhook_events(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Option<u64>, StoreError> {
        let (workspace, endpoint) = (workspace.clone(), endpoint.clone());
        self.write(move |tx| {
            if read_endpoint(tx, &workspace, &endpoint)?.is_none() {
                return Ok(None);
            }
            let queued = tx
                .execute(
                    concat!(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_seq, event_type, ordering_key, next_attempt_at, created_at, updated_at)
                     SELECT ",
                    random_delivery_id!(),
                    ", e.id, 'evt_' || ev.seq, ev.seq, ev.type, ev.subject_id, ?3, ?3, ?3
                     FROM webhook_endpoints e JOIN events ev ON ev.workspace_id = e.workspace_id
                     WHERE e.id = ?1 AND ev.created_at >= coalesce(?2, e.created_at)
                       AND ev.subject_id <> e.id
                       AND (e.event_types = '' OR instr(e.event_types, ' ' || ev.type || ' ') > 0)
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x WHERE x.endpoint_id = e.id AND x.event_seq = ev.seq)
                     ORDER BY ev.seq
                     LIMIT ?4"
                    ),
                    params![endpoint.as_str(), since.map(Timestamp::as_millis), Timestamp::now().as_millis(), i64::from(limit)],
                )
                .map_err(map_error)?;
            Ok(Some(queued as u64))
        })
        .await
    }

    async fn lease_webhook_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        leased_until: Timestamp,
        limit: u32,
        in_flight: &InFlight,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let owner = owner.to_owned();
        let (full_workspaces, full_endpoints) = in_flight.full_json();
        let in_flight = in_flight.clone();
        self.write(move |tx| {
            let candidates = tx
                .prepare_cached(
                    "SELECT d.id, e.workspace_id, d.endpoint_id
                     FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                     WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
                       AND (d.leased_until IS NULL OR d.leased_until < ?1)
                       AND e.enabled = 1
                       AND e.workspace_id NOT IN (SELECT value FROM json_each(?2))
                       AND d.endpoint_id NOT IN (SELECT value FROM json_each(?3))
                       AND NOT EXISTS (
                           SELECT 1 FROM webhook_deliveries p
                           WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
                             AND p.state = 'pending'
                             -- feed events by their order in the feed; a call's events (not in
                             -- the feed) by their message ids, which count up (`call_event_message_id`)
                             AND (p.event_seq < d.event_seq
                                  OR (p.event_seq IS NULL AND d.event_seq IS NULL AND p.message_id < d.message_id)))
                     ORDER BY d.next_attempt_at, d.event_seq
                     LIMIT ?4",
                )
                .and_then(|mut stmt| {
                    stmt.query_map(
                        params![
                            now.as_millis(),
                            full_workspaces,
                            full_endpoints,
                            i64::from(limit * LEASE_CANDIDATES_PER_SLOT)
                        ],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )?
                    .collect::<rusqlite::Result<Vec<(String, String, String)>>>()
                })
                .map_err(map_error)?;
            let mut leased = Vec::new();
            for id in in_flight.pick(candidates, limit as usize) {
                tx.execute(
                    "UPDATE webhook_deliveries SET leased_by = ?1, leased_until = ?2 WHERE id = ?3",
                    params![owner, leased_until.as_millis(), id],
                )
                .map_err(map_error)?;
                leased.extend(read_leased(tx, &id, now)?);
            }
            Ok(leased)
        })
        .await
    }

    async fn finish_webhook_attempt(
        &self,
        id: &WebhookDeliveryId,
        owner: &str,
        attempt: DeliveryAttempt,
        result: AttemptResult,
        disable_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let (id, owner) = (id.clone(), owner.to_owned());
        self.write(move |tx| finish_attempt(tx, &id, &owner, attempt, result, disable_after_ms))
            .await
    }

    async fn finish_webhook_attempts(
        &self,
        owner: &str,
        finished: Vec<FinishedAttempt>,
        disable_after_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let owner = owner.to_owned();
        self.write(move |tx| {
            finished
                .into_iter()
                .map(|one| {
                    finish_attempt(
                        tx,
                        &one.id,
                        &owner,
                        one.attempt,
                        one.result,
                        disable_after_ms,
                    )
                })
                .collect()
        })
        .await
    }

    async fn release_webhook_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        self.write(move |tx| {
            let released = tx
                .execute(
                    "UPDATE webhook_deliveries SET leased_by = NULL, leased_until = NULL WHERE leased_by = ?1",
                    [owner.as_str()],
                )
                .map_err(map_error)?;
            Ok(released as u64)
        })
        .await
    }

    async fn webhook_queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'",
                [],
                |row| {
                    Ok(QueueStats {
                        pending: row.get::<_, i64>(0)? as u64,
                        oldest_pending_created_at: row
                            .get::<_, Option<i64>>(1)?
                            .map(Timestamp::from_millis),
                    })
                },
            )
            .map_err(map_error)
        })
        .await
    }

    async fn prune_webhook_deliveries(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write(move |tx| {
            let pruned = tx
                .execute(
                    "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?1",
                    [before.as_millis()],
                )
                .map_err(map_error)?;
            Ok(pruned as u64)
        })
        .await
    }
}

/// Records one attempt by the lease's `owner`, in the caller's transaction; false when the
/// lease was lost to another worker.
fn finish_attempt(
    tx: &Connection,
    id: &WebhookDeliveryId,
    owner: &str,
    attempt: DeliveryAttempt,
    result: AttemptResult,
    disable_after_ms: i64,
) -> Result<bool, StoreError> {
    let Some((endpoint, attempts)) = tx
        .query_row(
            "SELECT endpoint_id, attempts FROM webhook_deliveries WHERE id = ?1 AND leased_by = ?2",
            [id.as_str(), owner],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(map_error)?
    else {
        return Ok(false);
    };
    let now = attempt.at;
    let attempts = attempt.appended_to(&attempts)?;
    let (state, next) = result.next_state();
    tx.execute(
            "UPDATE webhook_deliveries SET state = ?1, next_attempt_at = ?2, attempts = ?3,
                 attempt_count = attempt_count + 1, leased_by = NULL, leased_until = NULL, updated_at = ?4
             WHERE id = ?5",
            params![state.as_str(), next.map(Timestamp::as_millis), attempts, now, id.as_str()],
        )
        .map_err(map_error)?;
    if result == AttemptResult::Delivered {
        tx.execute(
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL",
                [endpoint.as_str()],
            )
            .map_err(map_error)?;
    } else {
        tx.execute(
                "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, ?1) WHERE id = ?2",
                params![now, endpoint.as_str()],
            )
            .map_err(map_error)?;
        let before = read_endpoint_by_id(tx, &endpoint)?;
        let disabled = tx
            .execute(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'failing', disabled_at = ?1, updated_at = ?1
                 WHERE id = ?2 AND enabled = 1 AND failing_since <= ?3",
                params![now, endpoint.as_str(), now - disable_after_ms],
            )
            .map_err(map_error)?;
        if disabled > 0
            && let Some(before) = before
        {
            let after = read_endpoint(tx, &before.workspace_id, &before.id)?;
            if let Some(event) = NewEvent::of_webhook_endpoint(
                Some(&before),
                after.as_ref(),
                &Actor::server(),
                Timestamp::from_millis(now),
            ) {
                record_event(tx, &before.workspace_id, &event)?;
            }
        }
    }
    Ok(true)
}
