//! The `Store` methods in PostgreSQL's SQL.

use crate::map_error;
use crate::outbox::record_event;
use crate::rows::{corrupt, get, parse_id};
use deadpool_postgres::GenericClient;
use switchboard_domain::{
    AgentId, Capabilities, Money, NumberStatus, NumberType, PhoneNumber, PhoneNumberId, Timestamp,
    WorkspaceId,
};
use switchboard_store::{
    Actor, Agent, Event, EventCursor, EventFilter, HistoryAction, NewEvent, NewPhoneNumber,
    NumberFilter, StoreError, Workspace, destination_from_column, routing_from_column,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Numbers an import sends to the server at once (see `import_phone_numbers`).
pub(crate) const IMPORT_CHUNK: usize = 1000;

pub(crate) const PHONE_NUMBER_COLUMNS: &str = "id, workspace_id, phone_number, country_code, type, \
    monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, outbound_agent_id, \
    status, provider, sip_trunk_enabled, is_default, created_at, updated_at, revision, routing";

pub(crate) fn optional_agent(value: Option<String>) -> Result<Option<AgentId>, StoreError> {
    value
        .map(|v| parse_id(v, AgentId::parse, "agent id"))
        .transpose()
}

pub(crate) fn phone_number_from_row(row: &Row) -> Result<PhoneNumber, StoreError> {
    let type_text: String = get(row, 4)?;
    let status_text: String = get(row, 12)?;
    let cents: i64 = get(row, 5)?;
    Ok(PhoneNumber {
        id: parse_id(get(row, 0)?, PhoneNumberId::parse, "phone number id")?,
        workspace_id: parse_id(get(row, 1)?, WorkspaceId::parse, "workspace id")?,
        phone_number: get(row, 2)?,
        country_code: get(row, 3)?,
        number_type: NumberType::parse(&type_text)
            .map_err(|_| corrupt("number type", &type_text))?,
        monthly_cost: Money::from_cents(cents)
            .map_err(|_| corrupt("monthly cost", &cents.to_string()))?,
        capabilities: Capabilities {
            voice: get(row, 6)?,
            sms: get(row, 7)?,
        },
        label: get(row, 8)?,
        nickname: get(row, 9)?,
        inbound_agent_id: optional_agent(get(row, 10)?)?,
        outbound_agent_id: optional_agent(get(row, 11)?)?,
        status: NumberStatus::parse(&status_text).map_err(|_| corrupt("status", &status_text))?,
        provider: get(row, 13)?,
        sip_trunk_enabled: get(row, 14)?,
        is_default: get(row, 15)?,
        created_at: Timestamp::from_millis(get(row, 16)?),
        updated_at: Timestamp::from_millis(get(row, 17)?),
        revision: get(row, 18)?,
        routing: routing_from_column(get::<Option<String>>(row, 19)?.as_deref())
            .map_err(|e| corrupt("routing policy", &e))?,
    })
}

pub(crate) fn workspace_from_row(row: &Row) -> Result<Workspace, StoreError> {
    let countries: String = get(row, 2)?;
    Ok(Workspace {
        id: parse_id(get(row, 0)?, WorkspaceId::parse, "workspace id")?,
        name: get(row, 1)?,
        enabled_countries: countries
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        kyc_verified: get(row, 3)?,
        created_at: Timestamp::from_millis(get(row, 4)?),
    })
}

pub(crate) fn agent_from_row(row: &Row) -> Result<Agent, StoreError> {
    Ok(Agent {
        id: parse_id(get(row, 0)?, AgentId::parse, "agent id")?,
        workspace_id: parse_id(get(row, 1)?, WorkspaceId::parse, "workspace id")?,
        name: get(row, 2)?,
        destination: destination_from_column(get::<Option<String>>(row, 3)?.as_deref())
            .map_err(|e| corrupt("agent destination", &e))?,
        created_at: Timestamp::from_millis(get(row, 4)?),
        updated_at: Timestamp::from_millis(get(row, 5)?),
    })
}

pub(crate) const WORKSPACE_COLUMNS: &str = "id, name, enabled_countries, kyc_verified, created_at";
pub(crate) const AGENT_COLUMNS: &str =
    "id, workspace_id, name, destination, created_at, updated_at";

pub(crate) async fn workspace_exists(
    client: &impl GenericClient,
    id: &WorkspaceId,
) -> Result<bool, StoreError> {
    Ok(client
        .query_opt("SELECT 1 FROM workspaces WHERE id = $1", &[&id.as_str()])
        .await
        .map_err(map_error)?
        .is_some())
}

pub(crate) async fn require_workspace(
    client: &impl GenericClient,
    id: &WorkspaceId,
) -> Result<(), StoreError> {
    if workspace_exists(client, id).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("workspace {id}")))
    }
}

/// Whether `agent` is an agent of the workspace; in a transaction, it stays one until the
/// transaction ends (a deletion waits), so a routing policy saved in it never names an agent
/// that a concurrent deletion missed.
pub(crate) async fn agent_exists(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    agent: &AgentId,
) -> Result<bool, StoreError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM agents WHERE id = $1 AND workspace_id = $2 FOR KEY SHARE",
            &[&agent.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?
        .is_some())
}

pub(crate) async fn read_number(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
) -> Result<Option<PhoneNumber>, StoreError> {
    number_where(client, "id", id.as_str(), workspace).await
}

/// The workspace's number whose `column` (`id` or `phone_number`, both unique within it) is
/// `value`; the statement is prepared once per connection, so a read is one round trip.
pub(crate) async fn number_where(
    client: &impl GenericClient,
    column: &'static str,
    value: &str,
    workspace: &WorkspaceId,
) -> Result<Option<PhoneNumber>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {column} = $1 AND workspace_id = $2"
        ))
        .await
        .map_err(map_error)?;
    client
        .query_opt(&statement, &[&value, &workspace.as_str()])
        .await
        .map_err(map_error)?
        .as_ref()
        .map(phone_number_from_row)
        .transpose()
}

pub(crate) async fn insert_number(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
    new: &NewPhoneNumber,
    now: i64,
) -> Result<(), StoreError> {
    // Prepared once per connection: an import runs thousands of these back to back.
    let statement = client
        .prepare_cached(
            "INSERT INTO phone_numbers (id, workspace_id, phone_number, country_code, type,
                 monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, status,
                 provider, sip_trunk_enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
        )
        .await
        .map_err(map_error)?;
    client
        .execute(
            &statement,
            &[
                &id.as_str(),
                &workspace.as_str(),
                &new.number.as_str(),
                &new.number.country_code(),
                &new.number_type.as_str(),
                &new.monthly_cost.cents(),
                &new.capabilities.voice,
                &new.capabilities.sms,
                &new.label,
                &new.nickname,
                &new.inbound_agent_id.as_ref().map(AgentId::as_str),
                &new.status.as_str(),
                &new.provider,
                &new.sip_trunk_enabled,
                &now,
            ],
        )
        .await
        .map_err(|e| match map_error(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("{} is already registered", new.number))
            }
            other => other,
        })?;
    Ok(())
}

/// Inserts a number after checking its workspace; a taken number is a `Conflict` naming it.
pub(crate) async fn insert_checked(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    number: &NewPhoneNumber,
) -> Result<PhoneNumber, StoreError> {
    require_workspace(client, workspace).await?;
    let id = PhoneNumberId::generate();
    insert_number(client, workspace, &id, number, Timestamp::now().as_millis()).await?;
    read_number(client, workspace, &id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("phone number {id}")))
}

/// The workspace's agent `id`, locked for the rest of the transaction.
pub(crate) async fn lock_agent(
    tx: &tokio_postgres::Transaction<'_>,
    workspace: &WorkspaceId,
    id: &AgentId,
) -> Result<Option<Agent>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1 AND workspace_id = $2 FOR UPDATE"
        ),
        &[&id.as_str(), &workspace.as_str()],
    )
    .await
    .map_err(map_error)?
    .as_ref()
    .map(agent_from_row)
    .transpose()
}

/// The `WHERE` conditions (with `$n`, numbered from 1) and arguments of an event filter.
pub(crate) fn event_conditions(
    workspace: &WorkspaceId,
    filter: &EventFilter,
) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conditions = vec!["workspace_id = $1".to_owned()];
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(workspace.to_string())];
    let mut add = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        args.push(value);
        conditions.push(condition.replace('?', &format!("${}", args.len())));
    };
    if let Some(subject) = &filter.subject_id {
        add("subject_id = ?", Box::new(subject.clone()));
    }
    if let Some(agent) = &filter.agent_id {
        add("strpos(agent_ids, ?) > 0", Box::new(format!(" {agent} ")));
    }
    if let Some(event_type) = &filter.event_type {
        add("type = ?", Box::new(event_type.clone()));
    }
    if let Some(since) = filter.since {
        add("created_at >= ?", Box::new(since.as_millis()));
    }
    if let Some(until) = filter.until {
        add("created_at < ?", Box::new(until.as_millis()));
    }
    for kind in &filter.hidden_kinds {
        add("NOT starts_with(type, ?)", Box::new((*kind).to_owned()));
    }
    (conditions.join(" AND "), args)
}

pub(crate) const EVENT_COLUMNS: &str =
    "txid, seq, type, subject_id, phone_number, actor, request_id, changes, created_at";

pub(crate) fn event_from_row(row: &Row) -> Result<Event, StoreError> {
    let changes: String = row.get(7);
    Ok(Event {
        cursor: EventCursor {
            txid: row.get(0),
            seq: row.get(1),
        },
        event_type: row.get(2),
        subject_id: row.get(3),
        phone_number: row.get(4),
        actor: row.get(5),
        request_id: row.get(6),
        changes: serde_json::from_str(&changes).map_err(|_| corrupt("event changes", &changes))?,
        at: Timestamp::from_millis(row.get(8)),
    })
}

/// The `WHERE` clause (with `$n` placeholders) and its arguments for the workspace's numbers
/// that match `filter`; only the filters given become SQL, as in the SQLite backend.
pub(crate) fn number_conditions(
    workspace: &WorkspaceId,
    filter: &NumberFilter,
) -> (String, Vec<String>) {
    let mut conditions = vec!["workspace_id = $1".to_owned()];
    let mut args = vec![workspace.to_string()];
    let equal = [
        ("country_code", filter.country_code.clone()),
        ("type", filter.number_type.map(|t| t.as_str().to_owned())),
        ("status", filter.status.map(|s| s.as_str().to_owned())),
        ("provider", filter.provider.clone()),
        (
            "inbound_agent_id",
            filter.inbound_agent_id.as_ref().map(|a| a.to_string()),
        ),
        (
            "outbound_agent_id",
            filter.outbound_agent_id.as_ref().map(|a| a.to_string()),
        ),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            args.push(value);
            conditions.push(format!("{column} = ${}", args.len()));
        }
    }
    if let Some(query) = &filter.query {
        args.push(query.clone());
        let n = args.len();
        conditions.push(format!(
            "(strpos(phone_number, ${n}) > 0 OR strpos(lower(nickname), lower(${n})) > 0 OR strpos(lower(label), lower(${n})) > 0)"
        ));
    }
    (conditions.join(" AND "), args)
}

/// The workspace's number `id`, locked for the rest of the transaction: a change that
/// another transaction has in flight lands first, and none can land until this one ends.
pub(crate) async fn lock_number(
    tx: &tokio_postgres::Transaction<'_>,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
) -> Result<Option<PhoneNumber>, StoreError> {
    tx.query_opt(
        &format!("SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE id = $1 AND workspace_id = $2 FOR UPDATE"),
        &[&id.as_str(), &workspace.as_str()],
    )
    .await
    .map_err(map_error)?
    .as_ref()
    .map(phone_number_from_row)
    .transpose()
}

/// Writes one history entry, in the caller's transaction; nothing when nothing visible changed.
pub(crate) async fn record_history(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    before: Option<&PhoneNumber>,
    after: Option<&PhoneNumber>,
    action: HistoryAction,
    actor: &Actor,
) -> Result<(), StoreError> {
    let Some(changes) = switchboard_store::changes(before, after) else {
        return Ok(());
    };
    let Some(number) = after.or(before) else {
        return Ok(());
    };
    // The change's own time, so that a number's `updated_at` and its history entry agree;
    // a release has no record left to take it from.
    let at = after.map_or_else(Timestamp::now, |n| n.updated_at);
    let statement = client
        .prepare_cached(
            "INSERT INTO phone_number_history (workspace_id, phone_number_id, phone_number, action, actor, request_id, changes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .map_err(map_error)?;
    client
        .execute(
            &statement,
            &[
                &workspace.as_str(),
                &number.id.as_str(),
                &number.phone_number,
                &action.as_str(),
                &actor.name,
                &actor.request_id,
                &changes,
                &at.as_millis(),
            ],
        )
        .await
        .map_err(map_error)?;
    if let Some(event) = NewEvent::of_number(before, after, action, actor, &changes, at) {
        record_event(client, workspace, &event).await?;
    }
    Ok(())
}
