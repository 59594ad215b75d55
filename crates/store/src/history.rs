//! The history of a number: who changed what, when, written in the same transaction as the
//! change.

use serde_json::{Map, Value, json};
use switchboard_domain::{PhoneNumber, Timestamp};

/// Who makes a change: an API key or a person (with the request's id), the command line, or
/// the server itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The API key id, the person's user id, `cli`, or `switchboard` (the server itself).
    pub name: String,
    /// The key's name or the person's email address, for webhook deliveries (the feed and
    /// history look names up when read).
    pub label: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn cli() -> Self {
        Self {
            name: "cli".into(),
            label: None,
            request_id: None,
        }
    }

    /// The server itself, e.g. disabling an endpoint that has failed for days.
    pub fn server() -> Self {
        Self {
            name: "switchboard".into(),
            label: None,
            request_id: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryAction {
    Imported,
    Purchased,
    Linked,
    Updated,
    Released,
}

impl HistoryAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Imported => "imported",
            HistoryAction::Purchased => "purchased",
            HistoryAction::Linked => "linked",
            HistoryAction::Updated => "updated",
            HistoryAction::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            HistoryAction::Imported,
            HistoryAction::Purchased,
            HistoryAction::Linked,
            HistoryAction::Updated,
            HistoryAction::Released,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub action: HistoryAction,
    pub actor: String,
    pub request_id: Option<String>,
    /// `{"field": {"before": …, "after": …}}`
    pub changes: Value,
    pub at: Timestamp,
}

/// The fields of the public object a change can touch, as the API shows them.
fn visible_fields(number: &PhoneNumber) -> Vec<(&'static str, Value)> {
    vec![
        ("phone_number", json!(number.phone_number)),
        ("country_code", json!(number.country_code)),
        ("type", json!(number.number_type.as_str())),
        ("monthly_cost_usd", json!(number.monthly_cost.to_string())),
        ("capabilities", json!(number.capabilities.names())),
        ("label", json!(number.label)),
        ("nickname", json!(number.nickname)),
        (
            "inbound_agent_id",
            json!(number.inbound_agent_id.as_ref().map(|a| a.as_str())),
        ),
        (
            "outbound_agent_id",
            json!(number.outbound_agent_id.as_ref().map(|a| a.as_str())),
        ),
        ("status", json!(number.status.as_str())),
        ("provider", json!(number.provider)),
        ("sip_trunk_enabled", json!(number.sip_trunk_enabled)),
        ("is_default", json!(number.is_default)),
        (
            "routing",
            number.routing.as_ref().map_or(Value::Null, |r| r.to_json()),
        ),
    ]
}

/// The fields that differ between `before` and `after` (`None` for a number that does not
/// exist on that side), as a JSON object; `None` when nothing visible changed.
pub fn changes(before: Option<&PhoneNumber>, after: Option<&PhoneNumber>) -> Option<String> {
    let before = before.map(visible_fields);
    let after = after.map(visible_fields);
    let names = before
        .as_ref()
        .or(after.as_ref())?
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>();
    let value_of = |side: &Option<Vec<(&'static str, Value)>>, i: usize| {
        side.as_ref()
            .map_or(Value::Null, |fields| fields[i].1.clone())
    };
    let mut diff = Map::new();
    for (i, name) in names.into_iter().enumerate() {
        let (old, new) = (value_of(&before, i), value_of(&after, i));
        if old != new {
            diff.insert(name.to_owned(), json!({"before": old, "after": new}));
        }
    }
    (!diff.is_empty()).then(|| Value::Object(diff).to_string())
}
