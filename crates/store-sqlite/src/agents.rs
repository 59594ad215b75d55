//! Agents, and detaching them from numbers when they go.

use crate::outbox::record_event;
use crate::queries::*;
use crate::rows::parse_id;
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::params;
use switchboard_domain::{AgentId, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::AgentStore;
use switchboard_store::{
    Actor, Agent, AgentUpdate, HistoryAction, NewAgent, NewEvent, PageRequest, PhoneNumberObject,
    StoreError, routing_column, routing_names_agent_sql,
};

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_agent(
        &self,
        workspace: &WorkspaceId,
        new: NewAgent,
        actor: &Actor,
    ) -> Result<Agent, StoreError> {
        let (workspace, actor) = (workspace.clone(), actor.clone());
        self.write(move |tx| {
            require_workspace(tx, &workspace)?;
            let now = Timestamp::now();
            let agent = Agent {
                id: AgentId::generate(),
                workspace_id: workspace,
                name: new.name,
                destination: new.destination,
                created_at: now,
                updated_at: now,
            };
            tx.execute(
                "INSERT INTO agents (id, workspace_id, name, destination, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    agent.id.as_str(),
                    agent.workspace_id.as_str(),
                    agent.name,
                    agent.destination.as_ref().map(|d| d.as_str()),
                    now.as_millis()
                ],
            )
            .map_err(map_error)?;
            if let Some(event) = NewEvent::of_agent(None, Some(&agent), Vec::new(), &actor, now) {
                record_event(tx, &agent.workspace_id, &event)?;
            }
            Ok(agent)
        })
        .await
    }

    async fn list_agents(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<(Vec<Agent>, u64), StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            let total: i64 = conn
                .query_row(
                    "SELECT count(*) FROM agents WHERE workspace_id = ?1",
                    [workspace.as_str()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {AGENT_COLUMNS} FROM agents
                     WHERE workspace_id = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
                ))
                .map_err(map_error)?;
            let agents = stmt
                .query_map(
                    params![
                        workspace.as_str(),
                        i64::from(page.limit),
                        page.offset() as i64
                    ],
                    agent_from_row,
                )
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok((agents, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn get_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.lookup(move |conn| read_agent(conn, &workspace, &id))
            .await
    }

    async fn update_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        update: AgentUpdate,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(before) = read_agent(tx, &workspace, &id)? else {
                return Ok(None);
            };
            let now = Timestamp::now();
            let mut after = update.apply_to(&before);
            after.updated_at = now;
            tx.execute(
                "UPDATE agents SET name = ?1, destination = ?2, updated_at = ?3 WHERE id = ?4 AND workspace_id = ?5",
                params![
                    after.name,
                    after.destination.as_ref().map(|d| d.as_str()),
                    now.as_millis(),
                    id.as_str(),
                    workspace.as_str()
                ],
            )
            .map_err(map_error)?;
            if let Some(event) = NewEvent::of_agent(Some(&before), Some(&after), Vec::new(), &actor, now) {
                record_event(tx, &workspace, &event)?;
            }
            Ok(Some(after))
        })
        .await
    }

    async fn delete_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let now = Timestamp::now().as_millis();
            let routed: Vec<String> = tx
                .prepare_cached(&format!(
                    "SELECT id FROM phone_numbers WHERE workspace_id = ?1
                     AND (inbound_agent_id = ?2 OR outbound_agent_id = ?2 OR {})",
                    routing_names_agent_sql("?2")
                ))
                .and_then(|mut stmt| {
                    stmt.query_map([workspace.as_str(), id.as_str()], |row| row.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .map_err(map_error)?;
            // Explicit, not left to ON DELETE SET NULL, so each number's revision, updated_at
            // and history move too.
            let mut detached = Vec::new();
            for number_id in routed {
                let number_id = parse_id(number_id, PhoneNumberId::parse, "phone number id").map_err(map_error)?;
                let Some(before) = read_number(tx, &workspace, &number_id)? else {
                    continue;
                };
                let routing = before.routing.as_ref().and_then(|p| p.without_agent(&id));
                let routing_text = routing_column(routing.as_ref().or(before.routing.as_ref()));
                tx.execute(
                    "UPDATE phone_numbers SET
                         inbound_agent_id = CASE WHEN inbound_agent_id = ?1 THEN NULL ELSE inbound_agent_id END,
                         outbound_agent_id = CASE WHEN outbound_agent_id = ?1 THEN NULL ELSE outbound_agent_id END,
                         routing = ?2, updated_at = ?3, revision = revision + 1
                     WHERE id = ?4 AND workspace_id = ?5",
                    params![id.as_str(), routing_text, now, number_id.as_str(), workspace.as_str()],
                )
                .map_err(map_error)?;
                let after = read_number(tx, &workspace, &number_id)?;
                record_history(tx, &workspace, Some(&before), after.as_ref(), HistoryAction::Updated, &actor)?;
                detached.extend(after.map(PhoneNumberObject::from));
            }
            let Some(agent) = read_agent(tx, &workspace, &id)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM agents WHERE id = ?1 AND workspace_id = ?2",
                [id.as_str(), workspace.as_str()],
            )
            .map_err(map_error)?;
            if let Some(event) = NewEvent::of_agent(Some(&agent), None, detached, &actor, Timestamp::now()) {
                record_event(tx, &workspace, &event)?;
            }
            Ok(true)
        })
        .await
    }
}
