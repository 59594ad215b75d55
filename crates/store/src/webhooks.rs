//! Webhook endpoints and their delivery queue.
//!
//! The queue is an outbox: the store writes one delivery per matching enabled endpoint in the
//! same transaction as each event (see each backend's `record_event`), so a delivery exists
//! if and only if its change committed. Delivery workers on any replica take due deliveries
//! under a lease ([`WebhookStore::lease_webhook_deliveries`]); a worker that dies leaves its
//! lease to expire and another takes the delivery over.

use crate::{Actor, PageRequest, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_domain::{Timestamp, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};

/// A URL the workspace's events are posted to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub description: Option<String>,
    /// The event types it receives; empty for all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why it was disabled: `failing` (by the server) or `manual`.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<Timestamp>,
    /// Since when every attempt has failed; `None` after a success.
    pub failing_since: Option<Timestamp>,
    pub secret_sealed: Vec<u8>,
    /// The secret before the last rotation, which keeps signing until
    /// `previous_secret_expires_at`.
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub secret_sealed: Vec<u8>,
}

/// Changes to an endpoint; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct WebhookEndpointUpdate {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// The `event_types` column: each type between spaces (` a b `), so that a match is one
/// substring test in SQL; empty for every type.
pub fn event_types_column(types: &[String]) -> String {
    if types.is_empty() {
        String::new()
    } else {
        format!(" {} ", types.join(" "))
    }
}

pub fn event_types_from_column(column: &str) -> Vec<String> {
    column.split_whitespace().map(str::to_owned).collect()
}

impl WebhookEndpointUpdate {
    /// Applies the changes: disabling by hand says so; enabling forgets why it was disabled
    /// and its failure streak.
    pub fn apply_to(self, endpoint: &mut WebhookEndpoint, now: Timestamp) {
        if let Some(url) = self.url {
            endpoint.url = url;
        }
        if let Some(description) = self.description {
            endpoint.description = description;
        }
        if let Some(types) = self.event_types {
            endpoint.event_types = types;
        }
        match self.enabled {
            Some(true) if !endpoint.enabled => {
                endpoint.enabled = true;
                endpoint.disabled_reason = None;
                endpoint.disabled_at = None;
                endpoint.failing_since = None;
            }
            Some(false) if endpoint.enabled => {
                endpoint.enabled = false;
                endpoint.disabled_reason = Some("manual".into());
                endpoint.disabled_at = Some(now);
            }
            _ => {}
        }
    }
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    Delivered,
    /// Every scheduled attempt failed; `retry` queues it again.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One POST to an endpoint, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The endpoint's HTTP status, when it answered.
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// The first bytes of its answer's body.
    pub response_excerpt: Option<String>,
    /// Why the attempt failed, when it did not get a 2xx.
    pub error: Option<String>,
}

/// At most this many attempts are kept on a delivery (the newest).
pub const KEPT_ATTEMPTS: usize = 20;

impl DeliveryAttempt {
    /// A delivery's stored attempts (a JSON array) with this one added, keeping the newest
    /// [`KEPT_ATTEMPTS`].
    pub fn appended_to(self, stored: &str) -> Result<String, StoreError> {
        let mut attempts: Vec<DeliveryAttempt> =
            serde_json::from_str(stored).map_err(|e| StoreError::Other(Box::new(e)))?;
        attempts.push(self);
        let excess = attempts.len().saturating_sub(KEPT_ATTEMPTS);
        attempts.drain(..excess);
        serde_json::to_string(&attempts).map_err(|e| StoreError::Other(Box::new(e)))
    }
}

/// One event (or ping) on its way to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    /// The `webhook-id` header: the same on every attempt, and for the same event on a replay.
    pub message_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    /// Attempts since it was last queued.
    pub attempt_count: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub attempts: Vec<DeliveryAttempt>,
    pub created_at: Timestamp,
}

/// Most deliveries of one workspace a worker has in flight at once: a workspace whose
/// endpoints hang can hold no more of a replica than this, and the rest serves the others.
pub const MAX_IN_FLIGHT_PER_WORKSPACE: u32 = 16;
/// Most deliveries to one endpoint a worker has in flight at once.
pub const MAX_IN_FLIGHT_PER_ENDPOINT: u32 = 8;

/// What one worker has in flight, by workspace and by endpoint: a lease takes only what
/// keeps each under its share ([`MAX_IN_FLIGHT_PER_WORKSPACE`], [`MAX_IN_FLIGHT_PER_ENDPOINT`]).
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    pub by_workspace: HashMap<String, u32>,
    pub by_endpoint: HashMap<String, u32>,
}

impl InFlight {
    pub fn add(&mut self, leased: &LeasedDelivery) {
        *self
            .by_workspace
            .entry(leased.workspace_id.to_string())
            .or_default() += 1;
        *self
            .by_endpoint
            .entry(leased.delivery.endpoint_id.to_string())
            .or_default() += 1;
    }

    pub fn remove(&mut self, leased: &LeasedDelivery) {
        for (map, key) in [
            (&mut self.by_workspace, leased.workspace_id.to_string()),
            (
                &mut self.by_endpoint,
                leased.delivery.endpoint_id.to_string(),
            ),
        ] {
            if let Some(count) = map.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(&key);
                }
            }
        }
    }

    /// The workspaces and endpoints at their share, as JSON arrays of ids: a lease leaves
    /// their deliveries out, so that it reaches the others' however long their backlog.
    pub fn full_json(&self) -> (String, String) {
        let full = |map: &HashMap<String, u32>, cap: u32| {
            let ids: Vec<&String> = map
                .iter()
                .filter(|(_, n)| **n >= cap)
                .map(|(id, _)| id)
                .collect();
            serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
        };
        (
            full(&self.by_workspace, MAX_IN_FLIGHT_PER_WORKSPACE),
            full(&self.by_endpoint, MAX_IN_FLIGHT_PER_ENDPOINT),
        )
    }

    /// Picks from `candidates` (id, workspace, endpoint; oldest due first) the ones that keep
    /// every workspace and endpoint within its share, at most `limit`.
    pub fn pick(&self, candidates: Vec<(String, String, String)>, limit: usize) -> Vec<String> {
        let mut by_workspace = self.by_workspace.clone();
        let mut by_endpoint = self.by_endpoint.clone();
        let mut picked = Vec::new();
        for (id, workspace, endpoint) in candidates {
            if picked.len() >= limit {
                break;
            }
            let in_workspace = by_workspace.entry(workspace).or_default();
            let at_endpoint = by_endpoint.entry(endpoint).or_default();
            if *in_workspace < MAX_IN_FLIGHT_PER_WORKSPACE
                && *at_endpoint < MAX_IN_FLIGHT_PER_ENDPOINT
            {
                *in_workspace += 1;
                *at_endpoint += 1;
                picked.push(id);
            }
        }
        picked
    }
}

/// How many due deliveries a lease looks at for each one it may take: enough to find others
/// past one workspace or endpoint that fills its share.
pub const LEASE_CANDIDATES_PER_SLOT: u32 = 4;

/// A delivery taken by one worker until `leased_until`, with what it needs to send it.
#[derive(Clone, Debug)]
pub struct LeasedDelivery {
    pub delivery: WebhookDelivery,
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    /// The secret before the last rotation, while it still signs.
    pub previous_secret_sealed: Option<Vec<u8>>,
    /// The request body, the same bytes on every attempt.
    pub body: String,
}

/// An attempt made under a lease, to be recorded.
#[derive(Clone, Debug)]
pub struct FinishedAttempt {
    pub id: WebhookDeliveryId,
    pub attempt: DeliveryAttempt,
    pub result: AttemptResult,
}

/// What an attempt leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Failed; try again at this time.
    RetryAt(Timestamp),
    /// Failed, and no attempt is left.
    Failed,
}

impl AttemptResult {
    /// The delivery's state and next attempt time after it.
    pub fn next_state(self) -> (DeliveryState, Option<Timestamp>) {
        match self {
            Self::Delivered => (DeliveryState::Delivered, None),
            Self::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            Self::Failed => (DeliveryState::Failed, None),
        }
    }
}

/// What the queue holds, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub pending: u64,
    pub oldest_pending_created_at: Option<Timestamp>,
}

/// The body of a delivery: `{"type", "timestamp", "data"}`, where `data` is the JSON the
/// event stored. Built from stored values only, so every attempt sends the same bytes.
pub fn webhook_body(event_type: &str, at: Timestamp, data: &str) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    format!(
        "{{\"type\":{},\"timestamp\":{},\"data\":{}}}",
        quote(event_type),
        quote(&at.to_string()),
        data
    )
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Records `webhook_endpoint.created` in the same transaction, as every change below
    /// records its event.
    async fn create_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        new: NewWebhookEndpoint,
        actor: &Actor,
    ) -> Result<WebhookEndpoint, StoreError>;
    /// Oldest first, and how many there are.
    async fn list_webhook_endpoints(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<(Vec<WebhookEndpoint>, u64), StoreError>;
    async fn get_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Disabling by hand records `manual`; enabling clears the reason and the failure streak.
    async fn update_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        update: WebhookEndpointUpdate,
        actor: &Actor,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Deletes it and its deliveries.
    async fn delete_webhook_endpoint(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    /// A new secret; the current one becomes the previous one until `previous_expires_at`.
    async fn rotate_webhook_secret(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookEndpointId,
        secret_sealed: Vec<u8>,
        previous_expires_at: Timestamp,
        actor: &Actor,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Newest first, and how many there are; `None` when there is no such endpoint.
    async fn list_webhook_deliveries(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        page: PageRequest,
    ) -> Result<Option<(Vec<WebhookDelivery>, u64)>, StoreError>;
    /// Queues a delivery again, due now, with a fresh schedule; its attempts stay.
    async fn retry_webhook_delivery(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        id: &WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError>;
    /// A `ping` delivery, leased to `owner` until `leased_until` so that the caller sends it
    /// itself; `None` when there is no such endpoint.
    async fn create_webhook_ping(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        owner: &str,
        leased_until: Timestamp,
    ) -> Result<Option<LeasedDelivery>, StoreError>;
    /// Queues, in feed order, every event at or after `since` (by default, the endpoint's
    /// creation) that the endpoint's filter matches and that has no delivery to it yet: what
    /// it missed while disabled, or, with an earlier `since`, history — the oldest `limit`
    /// of them, so that calling again queues the next ones. Returns how many; `None` when
    /// there is no such endpoint.
    async fn replay_webhook_events(
        &self,
        workspace: &WorkspaceId,
        endpoint: &WebhookEndpointId,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Option<u64>, StoreError>;
    /// Takes up to `limit` due deliveries of enabled endpoints for `owner` until
    /// `leased_until`: each is taken by one worker at a time, and a delivery waits while an
    /// earlier event about the same subject (a number, agent or key) is still pending to
    /// the same endpoint, so each endpoint sees one subject's events in order. Fair: with
    /// what the worker has `in_flight`, no workspace or endpoint goes over its share, and
    /// those at their share are passed over, so the others' deliveries are reached however
    /// long a backlog the first ones have.
    async fn lease_webhook_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        leased_until: Timestamp,
        limit: u32,
        in_flight: &InFlight,
    ) -> Result<Vec<LeasedDelivery>, StoreError>;
    /// Records an attempt by the lease's `owner` and what follows from it; also the
    /// endpoint's failure streak, which disables it once it has lasted `disable_after_ms`.
    /// Nothing happens when the lease was lost to another worker (returns false).
    async fn finish_webhook_attempt(
        &self,
        id: &WebhookDeliveryId,
        owner: &str,
        attempt: DeliveryAttempt,
        result: AttemptResult,
        disable_after_ms: i64,
    ) -> Result<bool, StoreError>;
    /// [`WebhookStore::finish_webhook_attempt`] for several attempts at once: one write
    /// where the backend can (SQLite: one transaction, one sync, and the write lock taken
    /// once, so that other processes get their turn). Answers, for each, whether it was
    /// recorded.
    async fn finish_webhook_attempts(
        &self,
        owner: &str,
        finished: Vec<FinishedAttempt>,
        disable_after_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let mut recorded = Vec::with_capacity(finished.len());
        for one in finished {
            recorded.push(
                self.finish_webhook_attempt(
                    &one.id,
                    owner,
                    one.attempt,
                    one.result,
                    disable_after_ms,
                )
                .await?,
            );
        }
        Ok(recorded)
    }
    /// Hands back every lease `owner` holds, for another worker to take at once.
    async fn release_webhook_leases(&self, owner: &str) -> Result<u64, StoreError>;
    async fn webhook_queue_stats(&self) -> Result<QueueStats, StoreError>;
    /// Deletes deliveries that were delivered or failed before `before` (pending ones stay
    /// whatever their age); returns how many.
    async fn prune_webhook_deliveries(&self, before: Timestamp) -> Result<u64, StoreError>;
}
