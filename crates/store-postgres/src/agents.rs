//! Agents, and detaching them from numbers when they go.

use crate::outbox::record_event;
use crate::queries::*;
use crate::rows::{get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_domain::{AgentId, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::AgentStore;
use switchboard_store::{
    Actor, Agent, AgentUpdate, HistoryAction, NewAgent, NewEvent, PageRequest, PhoneNumberObject,
    StoreError, routing_column, routing_names_agent_sql,
};

#[async_trait]
impl AgentStore for PostgresStore {
    async fn create_agent(
        &self,
        workspace: &WorkspaceId,
        new: NewAgent,
        actor: &Actor,
    ) -> Result<Agent, StoreError> {
        let now = Timestamp::now();
        let agent = Agent {
            id: AgentId::generate(),
            workspace_id: workspace.clone(),
            name: new.name,
            destination: new.destination,
            created_at: now,
            updated_at: now,
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        require_workspace(&tx, workspace).await?;
        tx.execute(
            "INSERT INTO agents (id, workspace_id, name, destination, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
            &[
                &agent.id.as_str(),
                &workspace.as_str(),
                &agent.name,
                &agent.destination.as_ref().map(|d| d.as_str()),
                &now.as_millis(),
            ],
        )
        .await
        .map_err(|e| match map_error(e) {
            // The workspace vanished between the check and the insert.
            StoreError::Conflict(_) => StoreError::NotFound(format!("workspace {workspace}")),
            other => other,
        })?;
        if let Some(event) = NewEvent::of_agent(None, Some(&agent), Vec::new(), actor, now) {
            record_event(&tx, workspace, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(agent)
    }

    async fn list_agents(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<(Vec<Agent>, u64), StoreError> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM agents WHERE workspace_id = $1",
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {AGENT_COLUMNS} FROM agents WHERE workspace_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
                ),
                &[&workspace.as_str(), &i64::from(page.limit), &(page.offset() as i64)],
            )
            .await
            .map_err(map_error)?;
        let agents = rows
            .iter()
            .map(agent_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((agents, u64::try_from(total).unwrap_or(0)))
    }

    async fn get_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1 AND workspace_id = $2"),
                &[&id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(agent_from_row)
            .transpose()
    }

    async fn update_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        update: AgentUpdate,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = lock_agent(&tx, workspace, id).await? else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let mut after = update.apply_to(&before);
        after.updated_at = now;
        tx.execute(
            "UPDATE agents SET name = $1, destination = $2, updated_at = $3 WHERE id = $4 AND workspace_id = $5",
            &[
                &after.name,
                &after.destination.as_ref().map(|d| d.as_str()),
                &now.as_millis(),
                &id.as_str(),
                &workspace.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        if let Some(event) = NewEvent::of_agent(Some(&before), Some(&after), Vec::new(), actor, now)
        {
            record_event(&tx, workspace, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(Some(after))
    }

    async fn delete_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        // The agent first: a change that names it (and holds it, see `agent_exists`) commits
        // before this reads the numbers, or waits and then finds it gone.
        let Some(agent) = lock_agent(&tx, workspace, id).await? else {
            return Ok(false);
        };
        let now = Timestamp::now().as_millis();
        let routed = tx
            .query(
                &format!(
                    "SELECT id FROM phone_numbers WHERE workspace_id = $1
                     AND (inbound_agent_id = $2 OR outbound_agent_id = $2 OR {}) FOR UPDATE",
                    routing_names_agent_sql("$2")
                ),
                &[&workspace.as_str(), &id.as_str()],
            )
            .await
            .map_err(map_error)?;
        let mut detached = Vec::new();
        for row in routed {
            let number_id = parse_id(get(&row, 0)?, PhoneNumberId::parse, "phone number id")?;
            let Some(before) = read_number(&tx, workspace, &number_id).await? else {
                continue;
            };
            let routing = before.routing.as_ref().and_then(|p| p.without_agent(id));
            let routing_text = routing_column(routing.as_ref().or(before.routing.as_ref()));
            tx.execute(
                "UPDATE phone_numbers SET
                     inbound_agent_id = CASE WHEN inbound_agent_id = $1 THEN NULL ELSE inbound_agent_id END,
                     outbound_agent_id = CASE WHEN outbound_agent_id = $1 THEN NULL ELSE outbound_agent_id END,
                     routing = $2, updated_at = $3, revision = revision + 1
                 WHERE id = $4 AND workspace_id = $5",
                &[&id.as_str(), &routing_text, &now, &number_id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
            let after = read_number(&tx, workspace, &number_id).await?;
            record_history(
                &tx,
                workspace,
                Some(&before),
                after.as_ref(),
                HistoryAction::Updated,
                actor,
            )
            .await?;
            detached.extend(after.map(PhoneNumberObject::from));
        }
        tx.execute(
            "DELETE FROM agents WHERE id = $1 AND workspace_id = $2",
            &[&id.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?;
        if let Some(event) =
            NewEvent::of_agent(Some(&agent), None, detached, actor, Timestamp::now())
        {
            record_event(&tx, workspace, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }
}
