//! Webhook endpoints and the delivery queue, on PostgreSQL.
//!
//! Replicas take due deliveries with `FOR UPDATE SKIP LOCKED` and mark them leased in the
//! same statement, so no delivery is taken by two at once and none waits on another's lock.

use crate::outbox::{random_delivery_id, record_event};
use crate::rows::{corrupt, get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_domain::{Timestamp, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};
use switchboard_store::{
    Actor, AttemptResult, DeliveryAttempt, DeliveryState, InFlight, LEASE_CANDIDATES_PER_SLOT,
    LeasedDelivery, NewEvent, NewWebhookEndpoint, PageRequest, QueueStats, StoreError,
    WebhookDelivery, WebhookEndpoint, WebhookEndpointUpdate, WebhookStore, event_types_column,
    event_types_from_column, webhook_body,
};
use tokio_postgres::Row;

const ENDPOINT_COLUMNS: &str = "id, workspace_id, url, description, event_types, enabled, \
    disabled_reason, disabled_at, failing_since, secret_sealed, previous_secret_sealed, \
    previous_secret_expires_at, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.message_id, d.event_type, d.state, \
    d.attempt_count, d.next_attempt_at, d.attempts, d.created_at";

fn millis(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp::from_millis)
}

fn endpoint_from_row(row: &Row) -> Result<WebhookEndpoint, StoreError> {
    let types: String = get(row, 4)?;
    Ok(WebhookEndpoint {
        id: parse_id(
            get(row, 0)?,
            WebhookEndpointId::parse,
            "webhook endpoint id",
        )?,
        workspace_id: parse_id(get(row, 1)?, WorkspaceId::parse, "workspace id")?,
        url: get(row, 2)?,
        description: get(row, 3)?,
        event_types: event_types_from_column(&types),
        enabled: get(row, 5)?,
        disabled_reason: get(row, 6)?,
        disabled_at: millis(get(row, 7)?),
        failing_since: millis(get(row, 8)?),
        secret_sealed: get(row, 9)?,
        previous_secret_sealed: get(row, 10)?,
        previous_secret_expires_at: millis(get(row, 11)?),
        created_at: Timestamp::from_millis(get(row, 12)?),
        updated_at: Timestamp::from_millis(get(row, 13)?),
    })
}

/// A delivery from the first columns of `row`, in [`DELIVERY_COLUMNS`] order.
fn delivery_from_row(row: &Row) -> Result<WebhookDelivery, StoreError> {
    let state: String = get(row, 4)?;
    let attempts: String = get(row, 7)?;
    let attempt_count: i64 = get(row, 5)?;
    Ok(WebhookDelivery {
        id: parse_id(
            get(row, 0)?,
            WebhookDeliveryId::parse,
            "webhook delivery id",
        )?,
        endpoint_id: parse_id(
            get(row, 1)?,
            WebhookEndpointId::parse,
            "webhook endpoint id",
        )?,
        message_id: get(row, 2)?,
        event_type: get(row, 3)?,
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt("delivery state", &state))?,
        attempt_count: u32::try_from(attempt_count)
            .map_err(|_| corrupt("attempt count", &attempt_count.to_string()))?,
        next_attempt_at: millis(get(row, 6)?),
        attempts: serde_json::from_str(&attempts)
            .map_err(|_| corrupt("delivery attempts", &attempts))?,
        created_at: Timestamp::from_millis(get(row, 8)?),
    })
}

async fn read_endpoint(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &WebhookEndpointId,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2"),
            &[&id.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
}

async fn read_delivery(
    client: &impl GenericClient,
    id: &WebhookDeliveryId,
) -> Result<Option<WebhookDelivery>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1"),
            &[&id.as_str()],
        )
        .await
        .map_err(map_error)?
        .as_ref()
        .map(delivery_from_row)
        .transpose()
}

/// Leased deliveries with their endpoints' URLs and secrets and their bodies.
async fn read_leased(
    client: &impl GenericClient,
    ids: &[String],
    now: Timestamp,
) -> Result<Vec<LeasedDelivery>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT {DELIVERY_COLUMNS}, e.url, e.secret_sealed,
                        CASE WHEN e.previous_secret_expires_at > $2 THEN e.previous_secret_sealed END,
                        coalesce(ev.created_at, d.created_at),
                        coalesce(d.ping_data, ev.data, json_build_object('changes', ev.changes::json)::text),
                        e.workspace_id
                 FROM webhook_deliveries d
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id
                 LEFT JOIN events ev ON ev.seq = d.event_seq
                 WHERE d.id = ANY($1)
                 ORDER BY d.next_attempt_at, d.event_seq"
            ),
            &[&ids, &now.as_millis()],
        )
        .await
        .map_err(map_error)?;
    rows.iter()
        .map(|row| {
            let delivery = delivery_from_row(row)?;
            let data: String = get(row, 13)?;
            Ok(LeasedDelivery {
                body: webhook_body(
                    &delivery.event_type,
                    Timestamp::from_millis(get(row, 12)?),
                    &data,
                ),
                delivery,
                workspace_id: WorkspaceId::parse(&get::<String>(row, 14)?).ok_or_else(|| {
                    StoreError::Other("a webhook endpoint's workspace id is damaged".into())
                })?,
                url: get(row, 9)?,
                secret_sealed: get(row, 10)?,
                previous_secret_sealed: get(row, 11)?,
            })
        })
        .collect()
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        new: NewWebhookEndpoint,
        actor: &Actor,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let id = WebhookEndpointId::generate();
        let now = Timestamp::now();
        tx.execute(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, description, event_types, secret_sealed, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            &[
                &id.as_str(),
                &workspace.as_str(),
                &new.url,
                &new.description,
                &event_types_column(&new.event_types),
                &new.secret_sealed,
                &now.as_millis(),
            ],
        )
        .await
        .map_err(map_error)?;
        let endpoint = read_endpoint(&tx, workspace, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("webhook endpoint {id}")))?;
        if let Some(event) = NewEvent::of_webhook_endpoint(None, Some(&endpoint), actor, now) {
            record_event(&tx, workspace, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(endpoint)
    }

    async fn list_webhook_endpoints(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<(Vec<WebhookEndpoint>, u64), StoreError> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM webhook_endpoints WHERE workspace_id = $1",
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1
                     ORDER BY created_at, id LIMIT $2 OFFSET $3"
                ),
                &[
                    &workspace.as_str(),
                    &i64::from(page.limit),
                    &(page.offset() as i64),
                ],
            )
            .await
            .map_err(map_error)?;
        let endpoints = rows
            .iter()
            .map(endpoint_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((endpoints, u64::try_from(total).unwrap_or(0)))
    }

    async fn get_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let client = self.client().await?;
        read_endpoint(&client, workspace, id).await
    }

    async fn update_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        update: WebhookEndpointUpdate,
        actor: &Actor,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = tx
            .query_opt(
                &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2 FOR UPDATE"),
                &[&id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(endpoint_from_row)
            .transpose()?
        else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let mut endpoint = before.clone();
        update.apply_to(&mut endpoint, now);
        tx.execute(
            "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, enabled = $4,
                 disabled_reason = $5, disabled_at = $6, failing_since = $7, updated_at = $8
             WHERE id = $9",
            &[
                &endpoint.url,
                &endpoint.description,
                &event_types_column(&endpoint.event_types),
                &endpoint.enabled,
                &endpoint.disabled_reason,
                &endpoint.disabled_at.map(Timestamp::as_millis),
                &endpoint.failing_since.map(Timestamp::as_millis),
                &now.as_millis(),
                &id.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        let updated = read_endpoint(&tx, workspace, id).await?;
        if let Some(event) =
            NewEvent::of_webhook_endpoint(Some(&before), updated.as_ref(), actor, now)
        {
            record_event(&tx, workspace, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn delete_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = read_endpoint(&tx, workspace, id).await? else {
            return Ok(false);
        };
        let deleted = tx
            .execute(
                "DELETE FROM webhook_endpoints WHERE id = $1 AND workspace_id = $2",
                &[&id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
        if deleted > 0
            && let Some(event) =
                NewEvent::of_webhook_endpoint(Some(&before), None, actor, Timestamp::now())
        {
            record_event(&tx, workspace, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(deleted > 0)
    }

    async fn rotate_webhook_secret(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        secret_sealed: Vec<u8>,
        previous_expires_at: Timestamp,
        actor: &Actor,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let now = Timestamp::now();
        tx.execute(
            "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed,
                 previous_secret_expires_at = $1, secret_sealed = $2, updated_at = $3
             WHERE id = $4 AND workspace_id = $5",
            &[
                &previous_expires_at.as_millis(),
                &secret_sealed,
                &now.as_millis(),
                &id.as_str(),
                &workspace.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        let rotated = read_endpoint(&tx, workspace, id).await?;
        if let Some(endpoint) = &rotated {
            record_event(
                &tx,
                workspace,
                &NewEvent::of_secret_rotation(endpoint, actor, now),
            )
            .await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(rotated)
    }

    async fn list_webhook_deliveries(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        page: PageRequest,
    ) -> Result<Option<(Vec<WebhookDelivery>, u64)>, StoreError> {
        let client = self.client().await?;
        if read_endpoint(&client, workspace, endpoint).await?.is_none() {
            return Ok(None);
        }
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1",
                &[&endpoint.as_str()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.endpoint_id = $1
                     ORDER BY d.created_at DESC, d.event_seq DESC NULLS LAST, d.id DESC LIMIT $2 OFFSET $3"
                ),
                &[&endpoint.as_str(), &i64::from(page.limit), &(page.offset() as i64)],
            )
            .await
            .map_err(map_error)?;
        let deliveries = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((deliveries, u64::try_from(total).unwrap_or(0))))
    }

    async fn retry_webhook_delivery(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        id: &WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE webhook_deliveries SET state = 'pending', attempt_count = 0,
                     next_attempt_at = $1, updated_at = $1
                 WHERE id = $2 AND endpoint_id = $3
                   AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE workspace_id = $4)",
                &[
                    &Timestamp::now().as_millis(),
                    &id.as_str(),
                    &endpoint.as_str(),
                    &workspace.as_str(),
                ],
            )
            .await
            .map_err(map_error)?;
        if changed == 0 {
            return Ok(None);
        }
        read_delivery(&client, id).await
    }

    async fn create_webhook_ping(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        owner: &str,
        leased_until: Timestamp,
    ) -> Result<Option<LeasedDelivery>, StoreError> {
        let client = self.client().await?;
        if read_endpoint(&client, workspace, endpoint).await?.is_none() {
            return Ok(None);
        }
        let id = WebhookDeliveryId::generate();
        let now = Timestamp::now();
        client
            .execute(
                "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, ordering_key, next_attempt_at,
                     leased_by, leased_until, ping_data, created_at, updated_at)
                 VALUES ($1, $2, $1, 'ping', $1, $3, $4, $5, $6, $3, $3)",
                &[
                    &id.as_str(),
                    &endpoint.as_str(),
                    &now.as_millis(),
                    &owner,
                    &leased_until.as_millis(),
                    &serde_json::json!({"webhook_endpoint_id": endpoint.as_str()}).to_string(),
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(read_leased(&client, &[id.to_string()], now).await?.pop())
    }

    async fn replay_webhook_events(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        if read_endpoint(&client, workspace, endpoint).await?.is_none() {
            return Ok(None);
        }
        let queued = client
            .execute(
                concat!(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_seq, event_type, ordering_key, next_attempt_at, created_at, updated_at)
                     SELECT ",
                    random_delivery_id!(),
                    ", e.id, 'evt_' || ev.seq, ev.seq, ev.type, ev.subject_id, $3, $3, $3
                     FROM webhook_endpoints e JOIN events ev ON ev.workspace_id = e.workspace_id
                     WHERE e.id = $1 AND ev.created_at >= coalesce($2, e.created_at)
                       AND ev.subject_id <> e.id
                       AND (e.event_types = '' OR position(' ' || ev.type || ' ' in e.event_types) > 0)
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x WHERE x.endpoint_id = e.id AND x.event_seq = ev.seq)
                     ORDER BY ev.seq
                     LIMIT $4
                     ON CONFLICT DO NOTHING"
                ),
                &[&endpoint.as_str(), &since.map(Timestamp::as_millis), &Timestamp::now().as_millis(), &i64::from(limit)],
            )
            .await
            .map_err(map_error)?;
        Ok(Some(queued))
    }

    async fn lease_webhook_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        leased_until: Timestamp,
        limit: u32,
        in_flight: &InFlight,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let mut client = self.client().await?;
        let (full_workspaces, full_endpoints) = in_flight.full_json();
        let tx = client.transaction().await.map_err(map_error)?;
        // Locked until the commit; other replicas skip them and take the next ones.
        let candidates: Vec<(String, String, String)> = tx
            .query(
                "SELECT d.id, e.workspace_id, d.endpoint_id
                 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $1
                   AND (d.leased_until IS NULL OR d.leased_until < $1)
                   AND e.enabled
                   AND NOT (e.workspace_id = ANY (SELECT jsonb_array_elements_text($2::text::jsonb)))
                   AND NOT (d.endpoint_id = ANY (SELECT jsonb_array_elements_text($3::text::jsonb)))
                   AND NOT EXISTS (
                       SELECT 1 FROM webhook_deliveries p
                       WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
                         AND p.state = 'pending'
                             -- feed events by their order in the feed; a call's events (not in
                             -- the feed) by their message ids, which count up (`call_event_message_id`)
                             AND (p.event_seq < d.event_seq
                                  OR (p.event_seq IS NULL AND d.event_seq IS NULL AND p.message_id < d.message_id)))
                 ORDER BY d.next_attempt_at, d.event_seq
                 LIMIT $4
                 FOR UPDATE OF d SKIP LOCKED",
                &[
                    &now.as_millis(),
                    &full_workspaces,
                    &full_endpoints,
                    &i64::from(limit * LEASE_CANDIDATES_PER_SLOT),
                ],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(|row| Ok((get(row, 0)?, get(row, 1)?, get(row, 2)?)))
            .collect::<Result<_, StoreError>>()?;
        let ids = in_flight.pick(candidates, limit as usize);
        if !ids.is_empty() {
            tx.execute(
                "UPDATE webhook_deliveries SET leased_by = $1, leased_until = $2 WHERE id = ANY($3)",
                &[&owner, &leased_until.as_millis(), &ids],
            )
            .await
            .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read_leased(&client, &ids, now).await
    }

    async fn finish_webhook_attempt(
        &self,
        id: &WebhookDeliveryId,
        owner: &str,
        attempt: DeliveryAttempt,
        result: AttemptResult,
        disable_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(row) = tx
            .query_opt(
                "SELECT endpoint_id, attempts FROM webhook_deliveries WHERE id = $1 AND leased_by = $2 FOR UPDATE",
                &[&id.as_str(), &owner],
            )
            .await
            .map_err(map_error)?
        else {
            return Ok(false);
        };
        let endpoint: String = get(&row, 0)?;
        let stored: String = get(&row, 1)?;
        let now = attempt.at;
        let attempts = attempt.appended_to(&stored)?;
        let (state, next) = result.next_state();
        tx.execute(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, attempts = $3,
                 attempt_count = attempt_count + 1, leased_by = NULL, leased_until = NULL, updated_at = $4
             WHERE id = $5",
            &[
                &state.as_str(),
                &next.map(Timestamp::as_millis),
                &attempts,
                &now,
                &id.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        if result == AttemptResult::Delivered {
            tx.execute(
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                &[&endpoint],
            )
            .await
            .map_err(map_error)?;
        } else {
            let before = tx
                .query_opt(
                    &format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 FOR UPDATE"
                    ),
                    &[&endpoint],
                )
                .await
                .map_err(map_error)?
                .as_ref()
                .map(endpoint_from_row)
                .transpose()?;
            tx.execute(
                "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $1),
                     enabled = enabled AND coalesce(failing_since, $1) > $3,
                     disabled_reason = CASE WHEN enabled AND coalesce(failing_since, $1) <= $3 THEN 'failing' ELSE disabled_reason END,
                     disabled_at = CASE WHEN enabled AND coalesce(failing_since, $1) <= $3 THEN $1 ELSE disabled_at END
                 WHERE id = $2",
                &[&now, &endpoint, &(now - disable_after_ms)],
            )
            .await
            .map_err(map_error)?;
            // Disabled by this attempt: the change is an event like any other.
            if let Some(before) = before.filter(|b| b.enabled) {
                let after = read_endpoint(&tx, &before.workspace_id, &before.id).await?;
                if after.as_ref().is_some_and(|a| !a.enabled)
                    && let Some(event) = NewEvent::of_webhook_endpoint(
                        Some(&before),
                        after.as_ref(),
                        &Actor::server(),
                        Timestamp::from_millis(now),
                    )
                {
                    record_event(&tx, &before.workspace_id, &event).await?;
                }
            }
        }
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }

    async fn release_webhook_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE webhook_deliveries SET leased_by = NULL, leased_until = NULL WHERE leased_by = $1",
                &[&owner],
            )
            .await
            .map_err(map_error)
    }

    async fn webhook_queue_stats(&self) -> Result<QueueStats, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), min(created_at) FROM webhook_deliveries WHERE state = 'pending'",
                &[],
            )
            .await
            .map_err(map_error)?;
        let pending: i64 = get(&row, 0)?;
        Ok(QueueStats {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_pending_created_at: millis(get(&row, 1)?),
        })
    }

    async fn prune_webhook_deliveries(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < $1",
                &[&before.as_millis()],
            )
            .await
            .map_err(map_error)
    }
}
