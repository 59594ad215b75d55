//! The workspace's change feed: every change to its numbers, agents and API keys, written in
//! the same transaction as the change.

use crate::{Actor, Agent, PhoneNumberObject, WebhookEndpoint, Workspace};
use serde_json::{Value, json};
use switchboard_domain::{PhoneNumber, Scope, Scopes, Timestamp};

/// Every kind of event, as the feed names them.
pub const EVENT_TYPES: [&str; 26] = [
    "phone_number.imported",
    "phone_number.purchased",
    "phone_number.linked",
    "phone_number.updated",
    "phone_number.released",
    "agent.created",
    "agent.renamed",
    "agent.updated",
    "agent.deleted",
    "api_key.created",
    "api_key.revoked",
    "api_key.expiry_set",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.disabled",
    "webhook_endpoint.enabled",
    "webhook_endpoint.secret_rotated",
    "webhook_endpoint.deleted",
    "workspace.updated",
    "user.created",
    "user.updated",
    "user.password_set",
    "user.removed",
    "user.signed_in",
    "user.sign_in_failed",
    "user.session_ended",
];

/// Events about calls, for webhook endpoints that name them: never in the change feed (which
/// stays configuration), and never sent to an endpoint that takes "every type" (there can be
/// many, and each names a caller). The data is the call as `GET /v1/calls/{id}` shows it.
pub const CALL_EVENT_TYPES: [&str; 2] = ["call.started", "call.completed"];

/// Whether a webhook endpoint may name `event_type`: a feed event's type or a call event's.
pub fn is_webhook_event_type(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type) || CALL_EVENT_TYPES.contains(&event_type)
}

/// Who may read which events: the scope a key needs to see the events whose type starts
/// with each prefix, in the feed and through a webhook endpoint alike. Key, endpoint and
/// workspace events say who can do what in the workspace, so they are for the keys that
/// manage those.
pub const EVENT_KINDS: [(&str, Scope); 7] = [
    ("phone_number.", Scope::PhoneNumbersRead),
    ("agent.", Scope::AgentsRead),
    ("api_key.", Scope::ApiKeysManage),
    ("webhook_endpoint.", Scope::WebhooksManage),
    ("workspace.", Scope::ApiKeysManage),
    ("call.", Scope::CallsRead),
    ("user.", Scope::UsersManage),
];

/// The scope a reader needs for events of `event_type`.
pub fn event_scope(event_type: &str) -> Option<Scope> {
    EVENT_KINDS
        .iter()
        .find(|(prefix, _)| event_type.starts_with(prefix))
        .map(|(_, scope)| *scope)
}

/// The type prefixes of the events a key with `scopes` may not read.
pub fn hidden_event_kinds(scopes: Scopes) -> Vec<&'static str> {
    EVENT_KINDS
        .iter()
        .filter(|(_, scope)| !scopes.contains(*scope))
        .map(|(prefix, _)| *prefix)
        .collect()
}

/// The feed's event types a key with `scopes` may read (`with_calls`: and the call events).
pub fn readable_event_types(scopes: Scopes, with_calls: bool) -> Vec<&'static str> {
    let calls: &[&'static str] = if with_calls { &CALL_EVENT_TYPES } else { &[] };
    EVENT_TYPES
        .into_iter()
        .chain(calls.iter().copied())
        .filter(|t| event_scope(t).is_some_and(|scope| scopes.contains(scope)))
        .collect()
}

/// A position in the feed: the last event a reader has seen. Events are served in
/// (`txid`, `seq`) order; `txid` is the writing transaction's id on PostgreSQL and 0 on
/// SQLite, whose `seq` alone is commit order. Shown to clients as `txid-seq`, which they
/// treat as opaque.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor {
    pub txid: i64,
    pub seq: i64,
}

impl EventCursor {
    /// Before the first event.
    pub const START: EventCursor = EventCursor { txid: 0, seq: 0 };

    pub fn parse(text: &str) -> Option<Self> {
        if text == "start" {
            return Some(Self::START);
        }
        let (txid, seq) = text.split_once('-')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        Some(Self {
            txid: number(txid)?,
            seq: number(seq)?,
        })
    }
}

impl std::fmt::Display for EventCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.txid, self.seq)
    }
}

/// One change, as the feed serves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub cursor: EventCursor,
    pub event_type: String,
    /// The number, agent or key it is about.
    pub subject_id: String,
    pub phone_number: Option<String>,
    pub actor: String,
    pub request_id: Option<String>,
    /// `{"field": {"before": …, "after": …}}`
    pub changes: Value,
    pub at: Timestamp,
}

/// Which events an auditor asks for; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Events about this number, agent or key.
    pub subject_id: Option<String>,
    /// Events that concern this agent: its own, and numbers routed to or from it.
    pub agent_id: Option<String>,
    pub event_type: Option<String>,
    /// At or after this time.
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    /// Leaves out the events whose type starts with any of these (what the caller may not
    /// read: see [`hidden_event_kinds`]).
    pub hidden_kinds: Vec<&'static str>,
}

/// An event to write, in the transaction of its change.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_type: String,
    pub subject_id: String,
    pub phone_number: Option<String>,
    /// ` agt_a agt_b `: the agents it concerns, each between spaces, so that a filter is one
    /// substring test.
    pub agent_ids: String,
    pub actor: Actor,
    pub changes: String,
    pub at: Timestamp,
    /// The `data` of its webhook deliveries (JSON): the number, agent or key as it is after
    /// the change (a released number: as it was), and the changes.
    pub data: String,
}

/// `{"field": {"before": …, "after": …}}` for each field of two JSON objects that differs.
fn field_changes(before: &Value, after: &Value) -> Value {
    let mut diff = serde_json::Map::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (name, old) in before {
            let new = after.get(name).unwrap_or(&Value::Null);
            if old != new {
                diff.insert(name.clone(), json!({"before": old, "after": new}));
            }
        }
    }
    Value::Object(diff)
}

fn agent_list<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut list = String::from(" ");
    for id in ids {
        if !list.contains(&format!(" {id} ")) {
            list.push_str(id);
            list.push(' ');
        }
    }
    list
}

impl NewEvent {
    /// The event of a number's history entry: `phone_number.<action>`, concerning the agents
    /// its routing moved from or to.
    pub fn of_number(
        before: Option<&PhoneNumber>,
        after: Option<&PhoneNumber>,
        action: crate::HistoryAction,
        actor: &Actor,
        changes: &str,
        at: Timestamp,
    ) -> Option<Self> {
        let number = after.or(before)?;
        let routing = |n: Option<&PhoneNumber>| {
            n.map(|n| {
                (
                    n.inbound_agent_id.as_ref().map(|a| a.to_string()),
                    n.outbound_agent_id.as_ref().map(|a| a.to_string()),
                )
            })
            .unwrap_or_default()
        };
        let ((in_before, out_before), (in_after, out_after)) = (routing(before), routing(after));
        let mut agents = Vec::new();
        if in_before != in_after {
            agents.extend(in_before.iter().chain(in_after.iter()).cloned());
        }
        if out_before != out_after {
            agents.extend(out_before.iter().chain(out_after.iter()).cloned());
        }
        let data = json!({
            "phone_number": PhoneNumberObject::from(number.clone()),
            "changes": serde_json::from_str::<Value>(changes).unwrap_or(Value::Null),
            "actor": actor.name,
            "actor_name": actor.label,
            "request_id": actor.request_id,
        });
        Some(Self {
            event_type: format!("phone_number.{}", action.as_str()),
            subject_id: number.id.to_string(),
            phone_number: Some(number.phone_number.clone()),
            agent_ids: agent_list(agents.iter().map(String::as_str)),
            actor: actor.clone(),
            changes: changes.to_owned(),
            at,
            data: data.to_string(),
        })
    }

    /// An agent created (`before` none), renamed (only its name changed), updated (its
    /// destination changed), or deleted (`after` none); `None` when a change changed nothing.
    /// A deletion names the numbers it detached from the agent, as they are afterwards.
    pub fn of_agent(
        before: Option<&Agent>,
        after: Option<&Agent>,
        detached: Vec<PhoneNumberObject>,
        actor: &Actor,
        at: Timestamp,
    ) -> Option<Self> {
        let agent = after.or(before)?;
        let name = |a: Option<&Agent>| a.map(|a| a.name.clone());
        let destination =
            |a: Option<&Agent>| a.and_then(|a| a.destination.as_ref().map(|d| d.to_string()));
        let mut changes = serde_json::Map::new();
        if name(before) != name(after) {
            changes.insert(
                "name".into(),
                json!({"before": name(before), "after": name(after)}),
            );
        }
        if destination(before) != destination(after) {
            changes.insert(
                "destination".into(),
                json!({"before": destination(before), "after": destination(after)}),
            );
        }
        let event_type = match (before, after) {
            (None, _) => "agent.created",
            (_, None) => "agent.deleted",
            _ if changes.is_empty() => return None,
            _ if changes.contains_key("destination") => "agent.updated",
            _ => "agent.renamed",
        };
        let changes = Value::Object(changes);
        let mut data = json!({
            "agent": {"id": agent.id.as_str(), "name": agent.name, "destination": destination(Some(agent))},
            "changes": changes,
            "actor": actor.name,
            "actor_name": actor.label,
            "request_id": actor.request_id,
        });
        if after.is_none() {
            data["detached_phone_numbers"] = json!(detached);
        }
        Some(Self {
            event_type: event_type.into(),
            subject_id: agent.id.to_string(),
            phone_number: None,
            agent_ids: agent_list([agent.id.as_str()]),
            actor: actor.clone(),
            changes: changes.to_string(),
            at,
            data: data.to_string(),
        })
    }

    /// An API key event: `api_key.created`, `api_key.revoked` or `api_key.expiry_set`.
    pub fn of_api_key(
        event_type: &str,
        id: &str,
        changes: Value,
        actor: &Actor,
        at: Timestamp,
    ) -> Self {
        Self::of_subject(
            event_type,
            ("api_key", json!({"id": id})),
            id,
            changes,
            actor,
            at,
        )
    }

    /// A webhook endpoint created (`before` none), changed, disabled or enabled, or deleted
    /// (`after` none); `None` when a change changed nothing. Never its secret.
    pub fn of_webhook_endpoint(
        before: Option<&WebhookEndpoint>,
        after: Option<&WebhookEndpoint>,
        actor: &Actor,
        at: Timestamp,
    ) -> Option<Self> {
        let endpoint = after.or(before)?;
        let fields = |e: Option<&WebhookEndpoint>| {
            e.map(|e| {
                json!({
                    "url": e.url,
                    "description": e.description,
                    "event_types": e.event_types,
                    "enabled": e.enabled,
                    "disabled_reason": e.disabled_reason,
                })
            })
            .unwrap_or_else(|| json!({"url": null, "description": null, "event_types": null, "enabled": null, "disabled_reason": null}))
        };
        let changes = field_changes(&fields(before), &fields(after));
        let event_type = match (before, after) {
            (None, _) => "webhook_endpoint.created",
            (_, None) => "webhook_endpoint.deleted",
            (Some(b), Some(a)) if b.enabled && !a.enabled => "webhook_endpoint.disabled",
            (Some(b), Some(a)) if !b.enabled && a.enabled => "webhook_endpoint.enabled",
            _ if changes.as_object().is_none_or(serde_json::Map::is_empty) => return None,
            _ => "webhook_endpoint.updated",
        };
        let object = json!({"id": endpoint.id.as_str(), "url": endpoint.url, "event_types": endpoint.event_types, "enabled": endpoint.enabled});
        Some(Self::of_subject(
            event_type,
            ("webhook_endpoint", object),
            endpoint.id.as_str(),
            changes,
            actor,
            at,
        ))
    }

    /// An endpoint's signing secret replaced (`webhook_endpoint.secret_rotated`); the old
    /// one signs until `previous_expires_at`.
    pub fn of_secret_rotation(endpoint: &WebhookEndpoint, actor: &Actor, at: Timestamp) -> Self {
        let changes = json!({"previous_secret_expires_at": {
            "before": null,
            "after": endpoint.previous_secret_expires_at.map(|t| t.to_string()),
        }});
        let object = json!({"id": endpoint.id.as_str(), "url": endpoint.url});
        Self::of_subject(
            "webhook_endpoint.secret_rotated",
            ("webhook_endpoint", object),
            endpoint.id.as_str(),
            changes,
            actor,
            at,
        )
    }

    /// A workspace's enabled countries or KYC state changed (`workspace.updated`); `None`
    /// when nothing did.
    pub fn of_workspace(
        before: &Workspace,
        after: &Workspace,
        actor: &Actor,
        at: Timestamp,
    ) -> Option<Self> {
        let fields = |w: &Workspace| json!({"enabled_countries": w.enabled_countries, "kyc_verified": w.kyc_verified});
        let changes = field_changes(&fields(before), &fields(after));
        if changes.as_object().is_none_or(serde_json::Map::is_empty) {
            return None;
        }
        let object = json!({"id": after.id.as_str(), "name": after.name});
        Some(Self::of_subject(
            "workspace.updated",
            ("workspace", object),
            after.id.as_str(),
            changes,
            actor,
            at,
        ))
    }

    /// An event about one record that is not a number or an agent: `data` holds the record
    /// under `kind`, the changes and who made them.
    pub(crate) fn of_subject(
        event_type: &str,
        (kind, object): (&str, Value),
        id: &str,
        changes: Value,
        actor: &Actor,
        at: Timestamp,
    ) -> Self {
        let data = json!({
            kind: object,
            "changes": changes,
            "actor": actor.name,
            "actor_name": actor.label,
            "request_id": actor.request_id,
        });
        Self {
            event_type: event_type.to_owned(),
            subject_id: id.to_owned(),
            phone_number: None,
            agent_ids: " ".into(),
            actor: actor.clone(),
            changes: changes.to_string(),
            at,
            data: data.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventCursor;

    #[test]
    fn cursors_round_trip_and_refuse_nonsense() {
        let cursor = EventCursor {
            txid: 1234,
            seq: 56,
        };
        assert_eq!(EventCursor::parse(&cursor.to_string()), Some(cursor));
        assert_eq!(EventCursor::parse("start"), Some(EventCursor::START));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-b",
            "1-2-3",
            "+1-2",
            "99999999999999999999-1",
        ] {
            assert_eq!(EventCursor::parse(bad), None, "{bad}");
        }
        assert!(EventCursor { txid: 1, seq: 9 } < EventCursor { txid: 2, seq: 1 });
    }
}
