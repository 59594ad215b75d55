//! The outbox: an event of the workspace's feed and the webhook deliveries it queues,
//! written together in the caller's transaction (one statement), so that no change is
//! without its event and no event without its deliveries.

use crate::map_error;
use deadpool_postgres::GenericClient;
use switchboard_domain::WorkspaceId;
use switchboard_store::{Call, NewEvent, StoreError, call_event_data, call_event_message_id};

/// A new delivery id for each row an `INSERT … SELECT` writes (SQL; a macro so that
/// `concat!` can put it in constant statements).
macro_rules! random_delivery_id {
    () => {
        "'whd_' || substr(md5(random()::text || clock_timestamp()::text), 1, 12)"
    };
}
pub(crate) use random_delivery_id;

/// The same, for statements built at run time.
pub(crate) const RANDOM_DELIVERY_ID: &str = random_delivery_id!();

/// The event's insert and its deliveries' (see [`record_event`]).
const RECORD_EVENT_SQL: &str = concat!(
    "WITH event AS (
         INSERT INTO events (workspace_id, type, subject_id, phone_number, agent_ids, actor, request_id, changes, created_at, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq
     )
     INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_seq, event_type, ordering_key, next_attempt_at, created_at, updated_at)
     SELECT ",
    random_delivery_id!(),
    ", e.id, 'evt_' || event.seq, event.seq, $2, $3, $9, $9, $9
     FROM event, webhook_endpoints e
     WHERE e.workspace_id = $1 AND e.enabled AND e.id <> $3
       AND (e.event_types = '' OR position(' ' || $2 || ' ' in e.event_types) > 0)"
);

/// Writes one event of the workspace's feed, in the caller's transaction (the row's `txid`
/// is that transaction's, the column's default), and queues its delivery to each enabled
/// webhook endpoint of the workspace whose filter takes it (but not to the endpoint the event
/// is about).
pub(crate) async fn record_event(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(RECORD_EVENT_SQL)
        .await
        .map_err(map_error)?;
    client
        .execute(
            &statement,
            &[
                &workspace.as_str(),
                &event.event_type,
                &event.subject_id,
                &event.phone_number,
                &event.agent_ids,
                &event.actor.name,
                &event.actor.request_id,
                &event.changes,
                &event.at.as_millis(),
                &event.data,
            ],
        )
        .await
        .map_err(map_error)?;
    Ok(())
}

/// A call event's deliveries (see [`queue_call_event`]).
const QUEUE_CALL_EVENT_SQL: &str = concat!(
    "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, ordering_key, next_attempt_at, ping_data, created_at, updated_at)
     SELECT ",
    random_delivery_id!(),
    ", e.id, $2, $3, $4, $5, $6, $5, $5
     FROM webhook_endpoints e
     WHERE e.workspace_id = $1 AND e.enabled AND position(' ' || $3 || ' ' in e.event_types) > 0"
);

/// Queues a call's event (`call.started`, `call.completed`) to each enabled endpoint of its
/// workspace that names the type: call events are not in the feed, so each delivery carries
/// its data itself, and an endpoint that takes every type does not receive them.
pub(crate) async fn queue_call_event(
    client: &impl GenericClient,
    call: &Call,
    event_type: &str,
    at: switchboard_domain::Timestamp,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(QUEUE_CALL_EVENT_SQL)
        .await
        .map_err(map_error)?;
    client
        .execute(
            &statement,
            &[
                &call.workspace_id.as_str(),
                &call_event_message_id(&call.id, event_type),
                &event_type,
                &call.id.as_str(),
                &at.as_millis(),
                &call_event_data(call),
            ],
        )
        .await
        .map_err(map_error)?;
    Ok(())
}
