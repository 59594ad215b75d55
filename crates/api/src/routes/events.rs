//! `/v1/events`: the workspace's change feed — every change to its numbers, agents and API
//! keys — read newest first by an auditor, or in feed order after a cursor by a program that
//! keeps a copy in sync.

use crate::auth::Authenticated;
use crate::extract::{page_from_query, query_time};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::collections::HashMap;
use switchboard_domain::{Scope, SealingKey, WorkspaceId};
use switchboard_server::AppState;
use switchboard_server::json::{Page, json_response, page_response};
use switchboard_server::{ApiError, ErrorResponse};
use switchboard_store::{EVENT_TYPES, Event, EventCursor, EventFilter, hidden_event_kinds};
use switchboard_webhooks::public_message_id;
use utoipa::{IntoParams, ToSchema};

/// The most events one read of the feed returns.
pub const MAX_FEED_LIMIT: u32 = 1000;
const DEFAULT_FEED_LIMIT: u32 = 100;

/// One change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WorkspaceEvent)]
pub struct EventObject {
    /// The event's id: the `webhook-id` its webhook deliveries carry.
    #[schema(example = "evt_3f9c2a7d1e4b8a6c0d5e7f21")]
    id: String,
    /// This event's place in the feed: pass it as `after` to read what came after it.
    #[schema(example = "q2w9Zb1k0cS7tGx4VYp2mEo8hJd3Lr6uNf5aWy")]
    cursor: String,
    /// `phone_number.imported`, `.purchased`, `.linked`, `.updated`, `.released`;
    /// `agent.created`, `.renamed`, `.updated`, `.deleted`; `api_key.created`, `.revoked`,
    /// `.expiry_set`; `webhook_endpoint.*`; `workspace.updated`; `user.created`, `.updated`,
    /// `.password_set`, `.removed`, `.signed_in`, `.sign_in_failed`, `.session_ended`.
    #[serde(rename = "type")]
    #[schema(example = "phone_number.updated")]
    event_type: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    at: String,
    /// The number, agent or key the event is about.
    #[schema(example = "phn_4k2m9x7q1z3b")]
    subject_id: String,
    /// The number, for number events.
    #[schema(required = true, example = "+14155550100")]
    phone_number: Option<String>,
    /// The API key id or the person's user id (`usr_…`) that made the change, `cli`,
    /// `switchboard` (the server itself), or `anonymous` (a failed sign-in).
    #[schema(example = "k7d2m9x4q1z3b8")]
    actor: String,
    /// The name of the key that made the change, while the key is live, or the person's
    /// email address (removed people too); `null` for the command line, the server, or a
    /// revoked key.
    #[schema(required = true, example = "call-router prod")]
    actor_name: Option<String>,
    /// The `X-Request-Id` of the request that made it.
    #[schema(required = true)]
    request_id: Option<String>,
    /// Each changed field, before and after; a released number's fields all go to `null`.
    #[schema(value_type = Object, example = json!({"inbound_agent_id": {"before": null, "after": "agt_7d2m9x4q1z3b"}}))]
    changes: serde_json::Value,
}

/// Feed positions as clients see them: the position and the workspace, sealed with the
/// server key and base64url-encoded. A cursor so reveals nothing (not how many events other
/// workspaces wrote, not a PostgreSQL transaction id), cannot be forged, and is refused in
/// another workspace. Every replica shares the key, so any of them reads any cursor.
struct Cursors<'a> {
    key: &'a SealingKey,
    workspace: &'a WorkspaceId,
}

impl Cursors<'_> {
    fn show(&self, cursor: EventCursor) -> String {
        let plain = format!("{}|{cursor}", self.workspace);
        URL_SAFE_NO_PAD.encode(self.key.seal_deterministic(plain.as_bytes()))
    }

    /// The position of a cursor this workspace was given, or of `start`.
    fn read(&self, text: &str) -> Option<EventCursor> {
        if text == "start" {
            return Some(EventCursor::START);
        }
        let sealed = URL_SAFE_NO_PAD.decode(text).ok()?;
        let plain = String::from_utf8(self.key.open(&sealed).ok()?).ok()?;
        let (workspace, position) = plain.split_once('|')?;
        (workspace == self.workspace.as_str())
            .then(|| EventCursor::parse(position))
            .flatten()
    }
}

impl EventObject {
    fn new(event: Event, cursors: &Cursors<'_>, names: &HashMap<String, String>) -> Self {
        Self {
            actor_name: names.get(&event.actor).cloned(),
            id: public_message_id(
                cursors.key,
                cursors.workspace,
                &format!("evt_{}", event.cursor.seq),
            ),
            cursor: cursors.show(event.cursor),
            event_type: event.event_type,
            at: event.at.to_string(),
            subject_id: event.subject_id,
            phone_number: event.phone_number,
            actor: event.actor,
            request_id: event.request_id,
            changes: event.changes,
        }
    }
}

/// A read of the feed after a cursor.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// In feed order.
    items: Vec<EventObject>,
    /// Where to resume: the last item's cursor, or the `after` given when there was none.
    #[schema(example = "q2w9Zb1k0cS7tGx4VYp2mEo8hJd3Lr6uNf5aWy")]
    next_cursor: String,
}

/// What `GET /v1/events` answers: a page of the newest events, or, with `after`, a read of
/// the feed. (For the document only: the handler serializes each shape itself.)
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "documents the two answers")]
pub enum EventsAnswer {
    #[schema(title = "Newest first")]
    Newest(Page<EventObject>),
    #[schema(title = "Feed order, after a cursor")]
    Feed(FeedPage),
}

/// The feed's filters and its two ways of reading.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct EventsQuery {
    /// Read in feed order after this cursor (`start` for the beginning), answering
    /// `next_cursor`; without it, newest first, paged with `page` and `limit`.
    #[param(example = "start")]
    after: Option<String>,
    /// With `after`: how many events at most (1 to 1000, default 100). Without it: the page
    /// size (1 to 100, default 20).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Without `after`: the page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Events about this number.
    number_id: Option<String>,
    /// Events that concern this agent: its own, and numbers routed to or from it.
    agent_id: Option<String>,
    /// One event type, e.g. `phone_number.updated`.
    #[param(rename = "type")]
    event_type: Option<String>,
    /// At or after this RFC 3339 time.
    since: Option<String>,
    /// Before this RFC 3339 time.
    until: Option<String>,
}

/// The filters of the query; bad values are added to `problems`.
fn event_filter(query: &HashMap<String, String>, problems: &mut Vec<String>) -> EventFilter {
    let text = |name: &str| query.get(name).map(|v| v.trim().to_owned());
    let since = query_time(query, "since", problems);
    let until = query_time(query, "until", problems);
    let event_type = text("type");
    if let Some(t) = &event_type
        && !EVENT_TYPES.contains(&t.as_str())
    {
        problems.push(format!("type must be one of: {}", EVENT_TYPES.join(", ")));
    }
    EventFilter {
        subject_id: text("number_id"),
        agent_id: text("agent_id"),
        event_type,
        since,
        until,
        hidden_kinds: Vec::new(),
    }
}

/// List the workspace's events (ext).
///
/// Every change in the workspace: number history entries (imported, purchased, linked,
/// updated, released — a release is the tombstone a synced copy drops the number on), and
/// agent and API key changes, with time, actor, request id and before → after. Newest first
/// for an auditor; with `after`, in feed order for a program that keeps a copy: resuming
/// after the `next_cursor` it was given never misses an event and never repeats one, on one
/// server or many. Needs `phone_numbers:read`; `api_key.*` events are shown only to keys
/// that also hold `api_keys:manage`.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "listEvents",
    tag = "Reports",
    params(EventsQuery),
    responses(
        (status = 200, description = "Newest first in the list envelope; with `after`, a `FeedPage`.", body = EventsAnswer),
        (status = 400, description = "A filter, cursor or paging value is invalid.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "after must be a cursor from this feed, or start", "error": "Bad Request"})),
    )
)]
pub async fn list_events(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let mut problems = Vec::new();
    let mut filter = event_filter(&query, &mut problems);
    // Each kind of event only for a key that may read what it is about (`EVENT_KINDS`).
    filter.hidden_kinds = hidden_event_kinds(caller.scopes);
    let cursors = Cursors {
        key: &state.sealing_key,
        workspace: &caller.workspace_id,
    };
    let names = crate::routes::phone_numbers::actor_names(&state, &caller.workspace_id).await?;
    // Nothing stored holds a control character (the API refuses them): such a filter
    // matches nothing, and PostgreSQL could not even take a NUL as a parameter.
    let matches_nothing = ["number_id", "agent_id"].iter().any(|name| {
        query
            .get(*name)
            .is_some_and(|v| v.chars().any(char::is_control))
    });
    match query.get("after") {
        Some(after) => {
            let cursor = cursors.read(after.trim()).or_else(|| {
                problems.push("after must be a cursor from this feed, or start".into());
                None
            });
            let limit = match query.get("limit") {
                None => Some(DEFAULT_FEED_LIMIT),
                Some(raw) => raw
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_FEED_LIMIT).contains(l))
                    .or_else(|| {
                        problems.push(format!(
                            "limit must be a whole number from 1 to {MAX_FEED_LIMIT}"
                        ));
                        None
                    }),
            };
            let (Some(cursor), Some(limit)) = (cursor, limit) else {
                return Err(ApiError::BadRequest(problems));
            };
            if !problems.is_empty() {
                return Err(ApiError::BadRequest(problems));
            }
            let events = if matches_nothing {
                Vec::new()
            } else {
                state
                    .store
                    .events_after(&caller.workspace_id, cursor, &filter, limit)
                    .await?
            };
            let next = events.last().map_or(cursor, |e| e.cursor);
            Ok(json_response(
                StatusCode::OK,
                &FeedPage {
                    items: events
                        .into_iter()
                        .map(|e| EventObject::new(e, &cursors, &names))
                        .collect(),
                    next_cursor: cursors.show(next),
                },
            ))
        }
        None => {
            let page = page_from_query(&query, &mut problems);
            if !problems.is_empty() {
                return Err(ApiError::BadRequest(problems));
            }
            let (events, total) = if matches_nothing {
                (Vec::new(), 0)
            } else {
                state
                    .store
                    .list_events(&caller.workspace_id, &filter, page)
                    .await?
            };
            let items: Vec<EventObject> = events
                .into_iter()
                .map(|e| EventObject::new(e, &cursors, &names))
                .collect();
            Ok(page_response(items, total, page))
        }
    }
}
