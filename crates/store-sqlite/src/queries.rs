//! The `Store` methods: SQL for each use case.

use crate::map_error;
use crate::outbox::record_event;
use crate::rows::{corrupt, parse_id};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};
use switchboard_domain::{
    AgentId, Capabilities, Money, NumberStatus, NumberType, PhoneNumber, PhoneNumberId, Timestamp,
    WorkspaceId,
};
use switchboard_store::{
    Actor, Agent, Event, EventCursor, EventFilter, HistoryAction, NewEvent, NewPhoneNumber,
    NumberFilter, PatchError, PhoneNumberPatch, StoreError, Workspace, destination_from_column,
    routing_column, routing_from_column,
};

pub(crate) const PHONE_NUMBER_COLUMNS: &str = "id, workspace_id, phone_number, country_code, type, \
    monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, outbound_agent_id, \
    status, provider, sip_trunk_enabled, is_default, created_at, updated_at, revision, routing";

pub(crate) const AGENT_COLUMNS: &str =
    "id, workspace_id, name, destination, created_at, updated_at";

pub(crate) fn phone_number_from_row(row: &Row<'_>) -> rusqlite::Result<PhoneNumber> {
    let type_text: String = row.get(4)?;
    let status_text: String = row.get(12)?;
    let cents: i64 = row.get(5)?;
    Ok(PhoneNumber {
        id: parse_id(row.get(0)?, PhoneNumberId::parse, "phone number id")?,
        workspace_id: parse_id(row.get(1)?, WorkspaceId::parse, "workspace id")?,
        phone_number: row.get(2)?,
        country_code: row.get(3)?,
        number_type: NumberType::parse(&type_text)
            .map_err(|_| corrupt("number type", &type_text))?,
        monthly_cost: Money::from_cents(cents)
            .map_err(|_| corrupt("monthly cost", &cents.to_string()))?,
        capabilities: Capabilities {
            voice: row.get(6)?,
            sms: row.get(7)?,
        },
        label: row.get(8)?,
        nickname: row.get(9)?,
        inbound_agent_id: optional_agent(row.get(10)?)?,
        outbound_agent_id: optional_agent(row.get(11)?)?,
        status: NumberStatus::parse(&status_text).map_err(|_| corrupt("status", &status_text))?,
        provider: row.get(13)?,
        sip_trunk_enabled: row.get(14)?,
        is_default: row.get(15)?,
        created_at: Timestamp::from_millis(row.get(16)?),
        updated_at: Timestamp::from_millis(row.get(17)?),
        revision: row.get(18)?,
        routing: routing_from_column(row.get_ref(19)?.as_str_or_null()?)
            .map_err(|e| corrupt("routing policy", &e))?,
    })
}

pub(crate) fn optional_agent(value: Option<String>) -> rusqlite::Result<Option<AgentId>> {
    value
        .map(|v| parse_id(v, AgentId::parse, "agent id"))
        .transpose()
}

pub(crate) fn workspace_from_row(row: &Row<'_>) -> rusqlite::Result<Workspace> {
    let countries: String = row.get(2)?;
    Ok(Workspace {
        id: parse_id(row.get(0)?, WorkspaceId::parse, "workspace id")?,
        name: row.get(1)?,
        enabled_countries: countries
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        kyc_verified: row.get(3)?,
        created_at: Timestamp::from_millis(row.get(4)?),
    })
}

pub(crate) fn workspace_exists(conn: &Connection, id: &WorkspaceId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([id.as_str()]))
        .map_err(map_error)
}

pub(crate) fn require_workspace(conn: &Connection, id: &WorkspaceId) -> Result<(), StoreError> {
    if workspace_exists(conn, id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("workspace {id}")))
    }
}

pub(crate) fn agent_from_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: parse_id(row.get(0)?, AgentId::parse, "agent id")?,
        workspace_id: parse_id(row.get(1)?, WorkspaceId::parse, "workspace id")?,
        name: row.get(2)?,
        destination: destination_from_column(row.get_ref(3)?.as_str_or_null()?)
            .map_err(|e| corrupt("agent destination", &e))?,
        created_at: Timestamp::from_millis(row.get(4)?),
        updated_at: Timestamp::from_millis(row.get(5)?),
    })
}

/// The `WHERE` clause (with `?` placeholders) and its arguments for the workspace's numbers
/// that match `filter`. Only the filters given become SQL, so SQLite walks the workspace's
/// index and nothing else; the statement text (and its cache entry) varies with the set.
pub(crate) fn number_conditions(
    workspace: &WorkspaceId,
    filter: &NumberFilter,
) -> (String, Vec<String>) {
    let mut conditions = vec!["workspace_id = ?"];
    let mut args = vec![workspace.as_str().to_owned()];
    let equal = [
        ("country_code = ?", filter.country_code.clone()),
        (
            "type = ?",
            filter.number_type.map(|t| t.as_str().to_owned()),
        ),
        ("status = ?", filter.status.map(|s| s.as_str().to_owned())),
        ("provider = ?", filter.provider.clone()),
        (
            "inbound_agent_id = ?",
            filter.inbound_agent_id.as_ref().map(|a| a.to_string()),
        ),
        (
            "outbound_agent_id = ?",
            filter.outbound_agent_id.as_ref().map(|a| a.to_string()),
        ),
    ];
    for (condition, value) in equal {
        if let Some(value) = value {
            conditions.push(condition);
            args.push(value);
        }
    }
    if let Some(query) = &filter.query {
        conditions.push(
            "(instr(phone_number, ?) > 0 OR instr(lower(nickname), lower(?)) > 0 \
             OR instr(lower(label), lower(?)) > 0)",
        );
        args.extend([query.clone(), query.clone(), query.clone()]);
    }
    (conditions.join(" AND "), args)
}

pub(crate) fn read_number(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
) -> Result<Option<PhoneNumber>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE id = ?1 AND workspace_id = ?2"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([id.as_str(), workspace.as_str()], phone_number_from_row)
            .optional()
    })
    .map_err(map_error)
}

pub(crate) fn insert_number(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
    new: &NewPhoneNumber,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO phone_numbers (id, workspace_id, phone_number, country_code, type,
             monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, status,
             provider, sip_trunk_enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id.as_str(),
            workspace.as_str(),
            new.number.as_str(),
            new.number.country_code(),
            new.number_type.as_str(),
            new.monthly_cost.cents(),
            new.capabilities.voice,
            new.capabilities.sms,
            new.label,
            new.nickname,
            new.inbound_agent_id.as_ref().map(AgentId::as_str),
            new.status.as_str(),
            new.provider,
            new.sip_trunk_enabled,
            now,
        ])
    })
    .map_err(|e| match map_error(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("{} is already registered", new.number))
        }
        other => other,
    })?;
    Ok(())
}

pub(crate) fn agent_exists(
    conn: &Connection,
    workspace: &WorkspaceId,
    agent: &AgentId,
) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM agents WHERE id = ?1 AND workspace_id = ?2")
        .and_then(|mut stmt| stmt.exists([agent.as_str(), workspace.as_str()]))
        .map_err(map_error)
}

/// One PATCH, inside the caller's write transaction.
pub(crate) fn apply_patch(
    tx: &rusqlite::Transaction<'_>,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
    patch: PhoneNumberPatch,
    expected_revision: Option<i64>,
    actor: &Actor,
) -> Result<PhoneNumber, PatchError> {
    let current = read_number(tx, workspace, id)?.ok_or(PatchError::NumberNotFound)?;
    if expected_revision.is_some_and(|r| r != current.revision) {
        return Err(PatchError::Changed);
    }
    let before = current.clone();
    for (field, agent) in patch.agents_named() {
        if !agent_exists(tx, workspace, agent)? {
            return Err(PatchError::UnknownAgent(field));
        }
    }
    let Some(next) = patch.apply_to(&current) else {
        return Ok(before);
    };
    let now = Timestamp::now().as_millis();
    if next.is_default && !current.is_default {
        // The previous default gives way in the same transaction; the partial unique index
        // guarantees there is never a second one.
        let previous: Option<String> = tx
            .query_row(
                "SELECT id FROM phone_numbers WHERE workspace_id = ?1 AND is_default = 1",
                [workspace.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(map_error)?;
        if let Some(previous) = previous.and_then(|p| PhoneNumberId::parse(&p)) {
            let previous_before = read_number(tx, workspace, &previous)?;
            tx.execute(
                "UPDATE phone_numbers SET is_default = 0, updated_at = ?1, revision = revision + 1 WHERE id = ?2",
                params![now, previous.as_str()],
            )
            .map_err(map_error)?;
            let previous_after = read_number(tx, workspace, &previous)?;
            record_history(
                tx,
                workspace,
                previous_before.as_ref(),
                previous_after.as_ref(),
                HistoryAction::Updated,
                actor,
            )?;
        }
    }
    tx.execute(
        "UPDATE phone_numbers SET nickname = ?1, label = ?2, inbound_agent_id = ?3, outbound_agent_id = ?4,
             is_default = ?5, routing = ?6, updated_at = ?7, revision = revision + 1
         WHERE id = ?8 AND workspace_id = ?9",
        params![
            next.nickname,
            next.label,
            next.inbound_agent_id.as_ref().map(AgentId::as_str),
            next.outbound_agent_id.as_ref().map(AgentId::as_str),
            next.is_default,
            routing_column(next.routing.as_ref()),
            now,
            id.as_str(),
            workspace.as_str(),
        ],
    )
    .map_err(map_error)?;
    let after = read_number(tx, workspace, id)?.ok_or(PatchError::NumberNotFound)?;
    record_history(
        tx,
        workspace,
        Some(&before),
        Some(&after),
        HistoryAction::Updated,
        actor,
    )?;
    Ok(after)
}

/// Inserts a number after checking its workspace; a taken number is a `Conflict` naming it.
pub(crate) fn insert_checked(
    conn: &Connection,
    workspace: &WorkspaceId,
    number: &NewPhoneNumber,
) -> Result<PhoneNumber, StoreError> {
    require_workspace(conn, workspace)?;
    let id = PhoneNumberId::generate();
    insert_number(conn, workspace, &id, number, Timestamp::now().as_millis())?;
    read_number(conn, workspace, &id)?
        .ok_or_else(|| StoreError::NotFound(format!("phone number {id}")))
}

/// Writes one history entry, in the caller's transaction; nothing when nothing visible changed.
pub(crate) fn record_history(
    conn: &Connection,
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
    conn.prepare_cached(
        "INSERT INTO phone_number_history (workspace_id, phone_number_id, phone_number, action, actor, request_id, changes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            workspace.as_str(),
            number.id.as_str(),
            number.phone_number,
            action.as_str(),
            actor.name,
            actor.request_id,
            changes,
            at.as_millis(),
        ])
    })
    .map_err(map_error)?;
    if let Some(event) = NewEvent::of_number(before, after, action, actor, &changes, at) {
        record_event(conn, workspace, &event)?;
    }
    Ok(())
}

pub(crate) fn read_agent(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &AgentId,
) -> Result<Option<Agent>, StoreError> {
    conn.query_row(
        &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1 AND workspace_id = ?2"),
        [id.as_str(), workspace.as_str()],
        agent_from_row,
    )
    .optional()
    .map_err(map_error)
}

/// The `WHERE` conditions (with `?`) and arguments of an event filter, after the workspace's.
pub(crate) fn event_conditions(
    workspace: &WorkspaceId,
    filter: &EventFilter,
) -> (String, Vec<SqlValue>) {
    let mut conditions = vec!["workspace_id = ?"];
    let mut args = vec![SqlValue::Text(workspace.as_str().to_owned())];
    if let Some(subject) = &filter.subject_id {
        conditions.push("subject_id = ?");
        args.push(SqlValue::Text(subject.clone()));
    }
    if let Some(agent) = &filter.agent_id {
        conditions.push("instr(agent_ids, ?) > 0");
        args.push(SqlValue::Text(format!(" {agent} ")));
    }
    if let Some(event_type) = &filter.event_type {
        conditions.push("type = ?");
        args.push(SqlValue::Text(event_type.clone()));
    }
    if let Some(since) = filter.since {
        conditions.push("created_at >= ?");
        args.push(SqlValue::Integer(since.as_millis()));
    }
    if let Some(until) = filter.until {
        conditions.push("created_at < ?");
        args.push(SqlValue::Integer(until.as_millis()));
    }
    for kind in &filter.hidden_kinds {
        conditions.push("substr(type, 1, length(?)) <> ?");
        args.push(SqlValue::Text((*kind).to_owned()));
        args.push(SqlValue::Text((*kind).to_owned()));
    }
    (conditions.join(" AND "), args)
}

pub(crate) const EVENT_COLUMNS: &str =
    "seq, type, subject_id, phone_number, actor, request_id, changes, created_at";

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let changes: String = row.get(6)?;
    Ok(Event {
        cursor: EventCursor {
            txid: 0,
            seq: row.get(0)?,
        },
        event_type: row.get(1)?,
        subject_id: row.get(2)?,
        phone_number: row.get(3)?,
        actor: row.get(4)?,
        request_id: row.get(5)?,
        changes: serde_json::from_str(&changes).map_err(|_| corrupt("event changes", &changes))?,
        at: Timestamp::from_millis(row.get(7)?),
    })
}
