//! The outbox: an event of the workspace's feed and the webhook deliveries it queues,
//! written together in the caller's transaction, so that no change is without its event and
//! no event without its deliveries.

use crate::map_error;
use rusqlite::{Connection, params};
use switchboard_domain::{Timestamp, WorkspaceId};
use switchboard_store::{Call, NewEvent, StoreError, call_event_data, call_event_message_id};

/// A new delivery id for each row an `INSERT … SELECT` writes (SQL; a macro so that
/// `concat!` can put it in constant statements).
macro_rules! random_delivery_id {
    () => {
        "'whd_' || lower(hex(randomblob(6)))"
    };
}

/// Writes one event of the workspace's feed, in the caller's transaction, and queues its
/// delivery to each enabled webhook endpoint of the workspace whose filter takes it.
pub(crate) fn record_event(
    conn: &Connection,
    workspace: &WorkspaceId,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO events (workspace_id, type, subject_id, phone_number, agent_ids, actor, request_id, changes, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING seq",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    workspace.as_str(),
                    event.event_type,
                    event.subject_id,
                    event.phone_number,
                    event.agent_ids,
                    event.actor.name,
                    event.actor.request_id,
                    event.changes,
                    event.at.as_millis(),
                    event.data,
                ],
                |row| row.get(0),
            )
        })
        .map_err(map_error)?;
    queue_event_deliveries(
        conn,
        workspace,
        seq,
        &event.event_type,
        &event.subject_id,
        event.at,
    )
}

/// Queues an event's delivery to every enabled endpoint of the workspace that takes it, in
/// the event's transaction; an endpoint is not sent the events about itself.
fn queue_event_deliveries(
    conn: &Connection,
    workspace: &WorkspaceId,
    seq: i64,
    event_type: &str,
    subject_id: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(concat!(
        "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_seq, event_type, ordering_key, next_attempt_at, created_at, updated_at)
         SELECT ",
        random_delivery_id!(),
        ", id, 'evt_' || ?2, ?2, ?3, ?4, ?5, ?5, ?5
         FROM webhook_endpoints
         WHERE workspace_id = ?1 AND enabled = 1 AND id <> ?4
           AND (event_types = '' OR instr(event_types, ' ' || ?3 || ' ') > 0)",
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            workspace.as_str(),
            seq,
            event_type,
            subject_id,
            at.as_millis()
        ])
    })
    .map_err(map_error)?;
    Ok(())
}

/// Queues a call's events (`call.started`, `call.completed`; each carrying the call as it is
/// now) to each enabled endpoint of its workspace that names the type: call events are not in
/// the feed, so each delivery carries its data itself, and an endpoint that takes every type
/// does not receive them.
pub(crate) fn queue_call_events(
    conn: &Connection,
    call: &Call,
    event_types: &[&str],
    at: Timestamp,
) -> Result<(), StoreError> {
    let data = call_event_data(call);
    let mut queue = conn
        .prepare_cached(concat!(
        "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, ordering_key, next_attempt_at, ping_data, created_at, updated_at)
         SELECT ",
        random_delivery_id!(),
        ", id, ?2, ?3, ?4, ?5, ?6, ?5, ?5
         FROM webhook_endpoints
         WHERE workspace_id = ?1 AND enabled = 1 AND instr(event_types, ' ' || ?3 || ' ') > 0",
        ))
        .map_err(map_error)?;
    for event_type in event_types {
        queue
            .execute(params![
                call.workspace_id.as_str(),
                call_event_message_id(&call.id, event_type),
                event_type,
                call.id.as_str(),
                at.as_millis(),
                data,
            ])
            .map_err(map_error)?;
    }
    Ok(())
}
