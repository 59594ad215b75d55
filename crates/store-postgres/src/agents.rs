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
    Actor, Agent, HistoryAction, NewEvent, PageRequest, PhoneNumberObject, StoreError,
};

#[async_trait]
impl AgentStore for PostgresStore {
    async fn create_agent(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        actor: &Actor,
    ) -> Result<Agent, StoreError> {
        let now = Timestamp::now();
        let agent = Agent {
            id: AgentId::generate(),
            workspace_id: workspace.clone(),
            name: name.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        require_workspace(&tx, workspace).await?;
        tx.execute(
            "INSERT INTO agents (id, workspace_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            &[&agent.id.as_str(), &workspace.as_str(), &agent.name, &now.as_millis()],
        )
        .await
        .map_err(|e| match map_error(e) {
            // The workspace vanished between the check and the insert.
            StoreError::Conflict(_) => StoreError::NotFound(format!("workspace {workspace}")),
            other => other,
        })?;
        record_event(
            &tx,
            workspace,
            &NewEvent::of_agent(
                agent.id.as_str(),
                None,
                Some(&agent.name),
                Vec::new(),
                actor,
                now,
            ),
        )
        .await?;
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

    async fn rename_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        name: &str,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = lock_agent(&tx, workspace, id).await? else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let after = tx
            .query_one(
                &format!(
                    "UPDATE agents SET name = $1, updated_at = $2 WHERE id = $3 AND workspace_id = $4 RETURNING {AGENT_COLUMNS}"
                ),
                &[&name, &now.as_millis(), &id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)
            .and_then(|row| agent_from_row(&row))?;
        if before.name != name {
            record_event(
                &tx,
                workspace,
                &NewEvent::of_agent(
                    id.as_str(),
                    Some(&before.name),
                    Some(name),
                    Vec::new(),
                    actor,
                    now,
                ),
            )
            .await?;
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
        let now = Timestamp::now().as_millis();
        let routed = tx
            .query(
                "SELECT id FROM phone_numbers WHERE workspace_id = $1 AND (inbound_agent_id = $2 OR outbound_agent_id = $2) FOR UPDATE",
                &[&workspace.as_str(), &id.as_str()],
            )
            .await
            .map_err(map_error)?;
        let mut detached = Vec::new();
        for row in routed {
            let number_id = parse_id(get(&row, 0)?, PhoneNumberId::parse, "phone number id")?;
            let before = read_number(&tx, workspace, &number_id).await?;
            tx.execute(
                "UPDATE phone_numbers SET
                     inbound_agent_id = CASE WHEN inbound_agent_id = $1 THEN NULL ELSE inbound_agent_id END,
                     outbound_agent_id = CASE WHEN outbound_agent_id = $1 THEN NULL ELSE outbound_agent_id END,
                     updated_at = $2, revision = revision + 1
                 WHERE id = $3 AND workspace_id = $4",
                &[&id.as_str(), &now, &number_id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
            let after = read_number(&tx, workspace, &number_id).await?;
            record_history(
                &tx,
                workspace,
                before.as_ref(),
                after.as_ref(),
                HistoryAction::Updated,
                actor,
            )
            .await?;
            detached.extend(after.map(PhoneNumberObject::from));
        }
        let Some(agent) = lock_agent(&tx, workspace, id).await? else {
            return Ok(false);
        };
        tx.execute(
            "DELETE FROM agents WHERE id = $1 AND workspace_id = $2",
            &[&id.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?;
        record_event(
            &tx,
            workspace,
            &NewEvent::of_agent(
                id.as_str(),
                Some(&agent.name),
                None,
                detached,
                actor,
                Timestamp::now(),
            ),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }
}
