//! The `Store` methods: SQL for each use case.

use crate::outbox::record_event;
use crate::rows::{corrupt, parse_id};
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::json;
use switchboard_domain::{
    AgentId, ApiKeyId, Capabilities, E164, Money, NumberStatus, NumberType, PhoneNumber,
    PhoneNumberId, Scopes, SecretDigest, Timestamp, WorkspaceId,
};
use switchboard_store::{
    Actor, Agent, ApiKeyRecord, ApiKeySummary, CountryRule, Event, EventCursor, EventFilter,
    FieldChange, HistoryAction, HistoryEntry, IDEMPOTENCY_ABANDONED_MS, IDEMPOTENCY_WINDOW_MS,
    IdempotencyClaim, MAX_LIVE_KEYS_PER_WORKSPACE, NewApiKey, NewEvent, NewPhoneNumber,
    NewSipTrunk, NewWorkspace, NumberFilter, NumberGroup, NumberGroupTotals, NumberStream,
    PageRequest, PatchError, PhoneNumberObject, PhoneNumberPatch, PoolUsage, Price, ReleaseClaim,
    STREAM_BUFFER, SipAuthMode, Store, StoreError, Workspace, WorkspaceUpdate, scopes_within_sql,
    summary_sql, too_many_keys,
};

const PHONE_NUMBER_COLUMNS: &str = "id, workspace_id, phone_number, country_code, type, \
    monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, outbound_agent_id, \
    status, provider, sip_trunk_enabled, is_default, created_at, updated_at, revision";

fn phone_number_from_row(row: &Row<'_>) -> rusqlite::Result<PhoneNumber> {
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
    })
}

fn optional_agent(value: Option<String>) -> rusqlite::Result<Option<AgentId>> {
    value
        .map(|v| parse_id(v, AgentId::parse, "agent id"))
        .transpose()
}

fn workspace_from_row(row: &Row<'_>) -> rusqlite::Result<Workspace> {
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

fn workspace_exists(conn: &Connection, id: &WorkspaceId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([id.as_str()]))
        .map_err(map_error)
}

fn require_workspace(conn: &Connection, id: &WorkspaceId) -> Result<(), StoreError> {
    if workspace_exists(conn, id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("workspace {id}")))
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn pool_usage(&self) -> Option<PoolUsage> {
        let (readers, writer) = (self.readers.state(), self.writer.state());
        Some(PoolUsage {
            in_use: (readers.connections - readers.idle_connections + writer.connections
                - writer.idle_connections) as usize,
            max: (self.readers.max_size() + self.writer.max_size()) as usize,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(map_error)
        })
        .await
    }

    async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, StoreError> {
        self.write(move |tx| {
            let mut countries = new.enabled_countries;
            countries.sort();
            countries.dedup();
            let workspace = Workspace {
                id: WorkspaceId::generate(),
                name: new.name,
                enabled_countries: countries,
                kyc_verified: new.kyc_verified,
                created_at: Timestamp::now(),
            };
            tx.execute(
                "INSERT INTO workspaces (id, name, enabled_countries, kyc_verified, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    workspace.id.as_str(),
                    workspace.name,
                    workspace.enabled_countries.join(","),
                    workspace.kyc_verified,
                    workspace.created_at.as_millis(),
                ],
            )
            .map_err(map_error)?;
            Ok(workspace)
        })
        .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let id = id.clone();
        self.lookup(move |conn| {
            conn.query_row(
                "SELECT id, name, enabled_countries, kyc_verified, created_at FROM workspaces WHERE id = ?1",
                [id.as_str()],
                workspace_from_row,
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn count_workspaces(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let count: i64 = conn
                .query_row("SELECT count(*) FROM workspaces", [], |row| row.get(0))
                .map_err(map_error)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, name, enabled_countries, kyc_verified, created_at FROM workspaces ORDER BY created_at, id",
                )
                .map_err(map_error)?;
            stmt.query_map([], workspace_from_row)
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<(), StoreError> {
        self.write(move |tx| {
            require_workspace(tx, &key.workspace_id)?;
            let live: i64 = tx
                .query_row(
                    "SELECT count(*) FROM api_keys WHERE workspace_id = ?1 AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > ?2)",
                    params![key.workspace_id.as_str(), Timestamp::now().as_millis()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            if live >= MAX_LIVE_KEYS_PER_WORKSPACE {
                return Err(too_many_keys());
            }
            tx.execute(
                "INSERT INTO api_keys (id, workspace_id, name, secret_sha256, scopes, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.id.as_str(),
                    key.workspace_id.as_str(),
                    key.name,
                    key.secret_digest.as_bytes().as_slice(),
                    key.scopes.to_list(),
                    Timestamp::now().as_millis(),
                    key.expires_at.map(Timestamp::as_millis),
                ],
            )
            .map_err(map_error)?;
            let now = Timestamp::now();
            let changes = json!({
                "name": {"before": null, "after": key.name},
                "scopes": {"before": null, "after": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()},
            });
            record_event(
                tx,
                &key.workspace_id,
                &NewEvent::of_api_key("api_key.created", key.id.as_str(), changes, &key.actor, now),
            )?;
            if let Some(at) = key.expire_others_at {
                let rotated: Vec<(String, Option<i64>)> = tx
                    .prepare(&format!(
                        "SELECT id, expires_at FROM api_keys
                         WHERE workspace_id = ?1 AND id <> ?2 AND revoked_at IS NULL
                           AND (expires_at IS NULL OR expires_at > ?3) AND {}",
                        scopes_within_sql("scopes", key.expire_others_within)
                    ))
                    .and_then(|mut stmt| {
                        stmt.query_map(
                            params![key.workspace_id.as_str(), key.id.as_str(), at.as_millis()],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )?
                        .collect()
                    })
                    .map_err(map_error)?;
                for (id, before) in rotated {
                    tx.execute(
                        "UPDATE api_keys SET expires_at = ?1 WHERE id = ?2",
                        params![at.as_millis(), id],
                    )
                    .map_err(map_error)?;
                    let changes = json!({"expires_at": {
                        "before": before.map(|t| Timestamp::from_millis(t).to_string()),
                        "after": at.to_string(),
                    }});
                    record_event(
                        tx,
                        &key.workspace_id,
                        &NewEvent::of_api_key("api_key.expiry_set", &id, changes, &key.actor, now),
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let id = id.clone();
        self.lookup(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT workspace_id, secret_sha256, scopes, expires_at, revoked_at
                     FROM api_keys WHERE id = ?1",
                )
                .map_err(map_error)?;
            stmt.query_row([id.as_str()], |row| {
                let digest: Vec<u8> = row.get(1)?;
                let scopes: String = row.get(2)?;
                Ok(ApiKeyRecord {
                    id: id.clone(),
                    workspace_id: parse_id(row.get(0)?, WorkspaceId::parse, "workspace id")?,
                    secret_digest: SecretDigest::from_bytes(&digest).ok_or_else(|| {
                        corrupt("secret digest of length", &digest.len().to_string())
                    })?,
                    scopes: Scopes::parse_list(&scopes).map_err(|_| corrupt("scopes", &scopes))?,
                    expires_at: row.get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
                    revoked_at: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                })
            })
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn create_agent(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        actor: &Actor,
    ) -> Result<Agent, StoreError> {
        let (workspace, name, actor) = (workspace.clone(), name.to_owned(), actor.clone());
        self.write(move |tx| {
            require_workspace(tx, &workspace)?;
            let now = Timestamp::now();
            let agent = Agent {
                id: AgentId::generate(),
                workspace_id: workspace,
                name,
                created_at: now,
                updated_at: now,
            };
            tx.execute(
                "INSERT INTO agents (id, workspace_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![agent.id.as_str(), agent.workspace_id.as_str(), agent.name, now.as_millis()],
            )
            .map_err(map_error)?;
            record_event(
                tx,
                &agent.workspace_id,
                &NewEvent::of_agent(agent.id.as_str(), None, Some(&agent.name), Vec::new(), &actor, now),
            )?;
            Ok(agent)
        })
        .await
    }

    async fn get_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let workspace = workspace.clone();
        let id = id.clone();
        self.lookup(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE id = ?1 AND workspace_id = ?2"
                ))
                .map_err(map_error)?;
            stmt.query_row([id.as_str(), workspace.as_str()], phone_number_from_row)
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn registered_numbers(&self, numbers: &[E164]) -> Result<Vec<E164>, StoreError> {
        let numbers = numbers.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM phone_numbers WHERE phone_number = ?1")
                .map_err(map_error)?;
            let mut taken = Vec::new();
            for number in numbers {
                if stmt.exists([number.as_str()]).map_err(map_error)? {
                    taken.push(number);
                }
            }
            Ok(taken)
        })
        .await
    }

    async fn import_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        numbers: Vec<NewPhoneNumber>,
        actor: &Actor,
    ) -> Result<Vec<PhoneNumberId>, StoreError> {
        let (workspace, actor) = (workspace.clone(), actor.clone());
        self.write(move |tx| {
            require_workspace(tx, &workspace)?;
            let now = Timestamp::now().as_millis();
            let mut ids = Vec::with_capacity(numbers.len());
            for new in numbers {
                if let Some(agent) = &new.inbound_agent_id
                    && !agent_exists(tx, &workspace, agent)?
                {
                    return Err(StoreError::NotFound(format!("agent {agent}")));
                }
                let id = PhoneNumberId::generate();
                insert_number(tx, &workspace, &id, &new, now)?;
                let stored = read_number(tx, &workspace, &id)?;
                record_history(
                    tx,
                    &workspace,
                    None,
                    stored.as_ref(),
                    HistoryAction::Imported,
                    &actor,
                )?;
                ids.push(id);
            }
            Ok(ids)
        })
        .await
    }

    async fn update_workspace(
        &self,
        id: &WorkspaceId,
        update: WorkspaceUpdate,
        actor: &Actor,
    ) -> Result<Option<Workspace>, StoreError> {
        let (id, actor) = (id.clone(), actor.clone());
        self.write(move |tx| {
            let read = |tx: &rusqlite::Transaction<'_>| {
                tx.query_row(
                    "SELECT id, name, enabled_countries, kyc_verified, created_at FROM workspaces WHERE id = ?1",
                    [id.as_str()],
                    workspace_from_row,
                )
                .optional()
                .map_err(map_error)
            };
            let Some(before) = read(tx)? else {
                return Ok(None);
            };
            let now = Timestamp::now().as_millis();
            if let Some(mut countries) = update.enabled_countries {
                countries.sort();
                countries.dedup();
                tx.execute(
                    "UPDATE workspaces SET enabled_countries = ?1, updated_at = ?2 WHERE id = ?3",
                    params![countries.join(","), now, id.as_str()],
                )
                .map_err(map_error)?;
            }
            if let Some(kyc) = update.kyc_verified {
                tx.execute(
                    "UPDATE workspaces SET kyc_verified = ?1, updated_at = ?2 WHERE id = ?3",
                    params![kyc, now, id.as_str()],
                )
                .map_err(map_error)?;
            }
            let after = read(tx)?;
            if let Some(after) = &after
                && let Some(event) =
                    NewEvent::of_workspace(&before, after, &actor, Timestamp::from_millis(now))
            {
                record_event(tx, &id, &event)?;
            }
            Ok(after)
        })
        .await
    }

    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<ApiKeySummary>, StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, name, scopes, created_at, last_used_at, expires_at FROM api_keys
                     WHERE workspace_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
                )
                .map_err(map_error)?;
            let rows = stmt
                .query_map([workspace.as_str()], |row| {
                    let scopes: String = row.get(2)?;
                    Ok(ApiKeySummary {
                        id: parse_id(row.get(0)?, ApiKeyId::parse, "api key id")?,
                        name: row.get(1)?,
                        scopes: Scopes::parse_list(&scopes)
                            .map_err(|_| corrupt("scopes", &scopes))?,
                        created_at: Timestamp::from_millis(row.get(3)?),
                        last_used_at: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                        expires_at: row.get::<_, Option<i64>>(5)?.map(Timestamp::from_millis),
                    })
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        workspace: &WorkspaceId,
        id: &ApiKeyId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let now = Timestamp::now();
            let changed = tx
                .execute(
                    "UPDATE api_keys SET revoked_at = ?1
                     WHERE id = ?2 AND workspace_id = ?3 AND revoked_at IS NULL",
                    params![now.as_millis(), id.as_str(), workspace.as_str()],
                )
                .map_err(map_error)?;
            if changed > 0 {
                let changes = json!({"revoked_at": {"before": null, "after": now.to_string()}});
                record_event(
                    tx,
                    &workspace,
                    &NewEvent::of_api_key("api_key.revoked", id.as_str(), changes, &actor, now),
                )?;
            }
            Ok(changed > 0)
        })
        .await
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2",
                params![at.as_millis(), id.as_str()],
            )
            .map_err(map_error)?;
            Ok(())
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
                .prepare_cached(
                    "SELECT id, workspace_id, name, created_at, updated_at FROM agents
                     WHERE workspace_id = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
                )
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
        self.lookup(move |conn| {
            conn.prepare_cached(
                "SELECT id, workspace_id, name, created_at, updated_at FROM agents WHERE id = ?1 AND workspace_id = ?2",
            )
            .and_then(|mut stmt| stmt.query_row([id.as_str(), workspace.as_str()], agent_from_row).optional())
            .map_err(map_error)
        })
        .await
    }

    async fn rename_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        name: &str,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError> {
        let (workspace, id, name, actor) = (
            workspace.clone(),
            id.clone(),
            name.to_owned(),
            actor.clone(),
        );
        self.write(move |tx| {
            let Some(before) = read_agent(tx, &workspace, &id)? else {
                return Ok(None);
            };
            let now = Timestamp::now();
            tx.execute(
                "UPDATE agents SET name = ?1, updated_at = ?2 WHERE id = ?3 AND workspace_id = ?4",
                params![name, now.as_millis(), id.as_str(), workspace.as_str()],
            )
            .map_err(map_error)?;
            if before.name != name {
                record_event(
                    tx,
                    &workspace,
                    &NewEvent::of_agent(
                        id.as_str(),
                        Some(&before.name),
                        Some(&name),
                        Vec::new(),
                        &actor,
                        now,
                    ),
                )?;
            }
            read_agent(tx, &workspace, &id)
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
                .prepare_cached(
                    "SELECT id FROM phone_numbers WHERE workspace_id = ?1 AND (inbound_agent_id = ?2 OR outbound_agent_id = ?2)",
                )
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
                let before = read_number(tx, &workspace, &number_id)?;
                tx.execute(
                    "UPDATE phone_numbers SET
                         inbound_agent_id = CASE WHEN inbound_agent_id = ?1 THEN NULL ELSE inbound_agent_id END,
                         outbound_agent_id = CASE WHEN outbound_agent_id = ?1 THEN NULL ELSE outbound_agent_id END,
                         updated_at = ?2, revision = revision + 1
                     WHERE id = ?3 AND workspace_id = ?4",
                    params![id.as_str(), now, number_id.as_str(), workspace.as_str()],
                )
                .map_err(map_error)?;
                let after = read_number(tx, &workspace, &number_id)?;
                record_history(tx, &workspace, before.as_ref(), after.as_ref(), HistoryAction::Updated, &actor)?;
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
            record_event(
                tx,
                &workspace,
                &NewEvent::of_agent(id.as_str(), Some(&agent.name), None, detached, &actor, Timestamp::now()),
            )?;
            Ok(true)
        })
        .await
    }

    async fn countries(&self) -> Result<Vec<CountryRule>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT rule_id, country_iso, country_name, calling_code, max_length, prefixes, requires_kyc
                     FROM countries ORDER BY country_iso",
                )
                .map_err(map_error)?;
            let rows = stmt
                .query_map([], |row| {
                    let prefixes: String = row.get(5)?;
                    Ok(CountryRule {
                        id: row.get(0)?,
                        country_iso: row.get(1)?,
                        country_name: row.get(2)?,
                        calling_code: row.get(3)?,
                        max_length: row.get(4)?,
                        prefixes: prefixes.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
                        requires_kyc: row.get(6)?,
                    })
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_error)
        })
        .await
    }

    async fn pricing(&self) -> Result<Vec<Price>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT p.provider, p.country_iso, c.country_name, p.type, p.monthly_cents, p.setup_cents,
                            p.created_at, p.updated_at
                     FROM pricing p JOIN countries c USING (country_iso)
                     ORDER BY p.provider, p.country_iso, p.type",
                )
                .map_err(map_error)?;
            let rows = stmt
                .query_map([], |row| {
                    let type_text: String = row.get(3)?;
                    let monthly: i64 = row.get(4)?;
                    let setup: i64 = row.get(5)?;
                    Ok(Price {
                        provider: row.get(0)?,
                        country_iso: row.get(1)?,
                        country_name: row.get(2)?,
                        number_type: NumberType::parse(&type_text).map_err(|_| corrupt("number type", &type_text))?,
                        monthly: Money::from_cents(monthly).map_err(|_| corrupt("price", &monthly.to_string()))?,
                        setup: Money::from_cents(setup).map_err(|_| corrupt("price", &setup.to_string()))?,
                        created_at: Timestamp::from_millis(row.get(6)?),
                        updated_at: Timestamp::from_millis(row.get(7)?),
                    })
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_error)
        })
        .await
    }

    async fn list_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        page: PageRequest,
    ) -> Result<(Vec<PhoneNumber>, u64), StoreError> {
        let workspace = workspace.clone();
        let filter = filter.clone();
        self.read(move |conn| {
            let (where_clause, args) = number_conditions(&workspace, &filter);
            // Only the workspace's own condition: its count is kept up to date in a table.
            let filtered = args.len() > 1;
            let params = rusqlite::params_from_iter(args.iter());
            let total: i64 = if filtered {
                conn.prepare_cached(&format!(
                    "SELECT count(*) FROM phone_numbers WHERE {where_clause}"
                ))
                .and_then(|mut stmt| stmt.query_row(params.clone(), |row| row.get(0)))
                .map_err(map_error)?
            } else {
                conn.prepare_cached(
                    "SELECT numbers FROM workspace_number_counts WHERE workspace_id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([workspace.as_str()], |row| row.get(0))
                        .optional()
                })
                .map_err(map_error)?
                .unwrap_or(0)
            };
            // The page is found on the index alone (no table rows read for the skipped ones),
            // then its rows are fetched: a deep page costs an index walk, not a table scan.
            let mut page_args: Vec<&dyn rusqlite::ToSql> =
                args.iter().map(|a| a as &dyn rusqlite::ToSql).collect();
            let limit = i64::from(page.limit);
            let offset = page.offset() as i64;
            page_args.push(&limit);
            page_args.push(&offset);
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE rowid IN (
                         SELECT rowid FROM phone_numbers WHERE {where_clause}
                         ORDER BY created_at, id LIMIT ? OFFSET ?)
                     ORDER BY created_at, id"
                ))
                .map_err(map_error)?;
            let items = stmt
                .query_map(rusqlite::params_from_iter(page_args), phone_number_from_row)
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok((items, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        let (where_clause, mut args) = event_conditions(workspace, filter);
        self.read(move |conn| {
            let total: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM events WHERE {where_clause}"))
                .and_then(|mut stmt| {
                    stmt.query_row(rusqlite::params_from_iter(args.iter()), |row| row.get(0))
                })
                .map_err(map_error)?;
            args.push(SqlValue::Integer(i64::from(page.limit)));
            args.push(SqlValue::Integer(page.offset() as i64));
            let events = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE {where_clause} ORDER BY seq DESC LIMIT ? OFFSET ?"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(rusqlite::params_from_iter(args.iter()), event_from_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(map_error)?;
            Ok((events, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn events_after(
        &self,
        workspace: &WorkspaceId,
        after: EventCursor,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        // One writer at a time: `seq` grows in commit order, so every event after `after`
        // that a later read can see is after it in `seq` too.
        let (where_clause, mut args) = event_conditions(workspace, filter);
        args.push(SqlValue::Integer(after.seq));
        args.push(SqlValue::Integer(i64::from(limit)));
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE {where_clause} AND seq > ? ORDER BY seq LIMIT ?"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(rusqlite::params_from_iter(args.iter()), event_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn summarize_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        group_by: &[NumberGroup],
    ) -> Result<Vec<NumberGroupTotals>, StoreError> {
        let (where_clause, args) = number_conditions(workspace, filter);
        let group_by = group_by.to_vec();
        self.read(move |conn| {
            let sql = summary_sql(&where_clause, &group_by);
            let mut stmt = conn.prepare_cached(&sql).map_err(map_error)?;
            let keys = group_by.len();
            let by_agent = group_by.contains(&NumberGroup::InboundAgent);
            stmt.query_map(rusqlite::params_from_iter(args.iter()), |row| {
                let cents: i64 = row.get(keys + 1)?;
                Ok(NumberGroupTotals {
                    keys: (0..keys)
                        .map(|i| row.get::<_, Option<String>>(i))
                        .collect::<rusqlite::Result<_>>()?,
                    agent_name: if by_agent { row.get(keys + 2)? } else { None },
                    count: u64::try_from(row.get::<_, i64>(keys)?).unwrap_or(0),
                    monthly_cost: Money::from_cents(cents)
                        .map_err(|_| corrupt("monthly cost total", &cents.to_string()))?,
                })
            })
            .map_err(map_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(map_error)
        })
        .await
    }

    fn stream_phone_numbers(&self, workspace: &WorkspaceId, filter: &NumberFilter) -> NumberStream {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let (where_clause, args) = number_conditions(workspace, filter);
        let pool = self.readers.clone();
        // One read transaction: the stream is a consistent snapshot, however long the
        // consumer takes.
        tokio::task::spawn_blocking(move || {
            let read = || -> Result<(), StoreError> {
                let conn = pool
                    .get()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {where_clause} ORDER BY created_at, id"
                    ))
                    .map_err(map_error)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(args.iter()))
                    .map_err(map_error)?;
                while let Some(row) = rows.next().map_err(map_error)? {
                    let number = phone_number_from_row(row).map_err(map_error)?;
                    if sender.blocking_send(Ok(number)).is_err() {
                        // The consumer went away: stop reading.
                        return Ok(());
                    }
                }
                Ok(())
            };
            if let Err(error) = read() {
                let _ = sender.blocking_send(Err(error));
            }
        });
        receiver
    }

    async fn find_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: &E164,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let (workspace, number) = (workspace.clone(), number.as_str().to_owned());
        self.lookup(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE phone_number = ?1 AND workspace_id = ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([number.as_str(), workspace.as_str()], phone_number_from_row)
                    .optional()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn update_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        patch: PhoneNumberPatch,
        expected_revision: Option<i64>,
        actor: &Actor,
    ) -> Result<PhoneNumber, PatchError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            Ok(apply_patch(
                tx,
                &workspace,
                &id,
                patch,
                expected_revision,
                &actor,
            ))
        })
        .await?
    }

    async fn delete_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(before) = read_number(tx, &workspace, &id)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM phone_numbers WHERE id = ?1 AND workspace_id = ?2",
                [id.as_str(), workspace.as_str()],
            )
            .map_err(map_error)?;
            record_history(
                tx,
                &workspace,
                Some(&before),
                None,
                HistoryAction::Released,
                &actor,
            )?;
            Ok(true)
        })
        .await
    }

    async fn begin_release(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        expected_revision: Option<i64>,
        stale_before: Timestamp,
    ) -> Result<ReleaseClaim, StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.write(move |tx| {
            let Some(number) = read_number(tx, &workspace, &id)? else {
                return Ok(ReleaseClaim::NotFound);
            };
            // A purchase still in flight: it is not released until it is bought.
            if number.status != NumberStatus::Active {
                return Ok(ReleaseClaim::InProgress);
            }
            if expected_revision.is_some_and(|r| r != number.revision) {
                return Ok(ReleaseClaim::Changed);
            }
            if number.is_default {
                return Ok(ReleaseClaim::IsDefault);
            }
            let claimed = tx
                .execute(
                    "INSERT INTO phone_number_releases (phone_number_id, started_at) VALUES (?1, ?2)
                     ON CONFLICT (phone_number_id) DO UPDATE SET started_at = excluded.started_at
                     WHERE phone_number_releases.started_at < ?3",
                    params![id.as_str(), Timestamp::now().as_millis(), stale_before.as_millis()],
                )
                .map_err(map_error)?;
            Ok(if claimed == 1 {
                ReleaseClaim::Claimed(Box::new(number))
            } else {
                ReleaseClaim::InProgress
            })
        })
        .await
    }

    async fn abandon_release(&self, id: &PhoneNumberId) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM phone_number_releases WHERE phone_number_id = ?1",
                [id.as_str()],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn record_sealing_key_id(&self, key_id: &str) -> Result<String, StoreError> {
        let key_id = key_id.to_owned();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO sealing_key (singleton, key_id, created_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (singleton) DO NOTHING",
                params![key_id, Timestamp::now().as_millis()],
            )
            .map_err(map_error)?;
            tx.query_row("SELECT key_id FROM sealing_key", [], |row| row.get(0))
                .map_err(map_error)
        })
        .await
    }

    async fn sealing_key_id(&self) -> Result<Option<String>, StoreError> {
        self.read(move |conn| {
            conn.query_row("SELECT key_id FROM sealing_key", [], |row| row.get(0))
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn sample_sealed_secret(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT password_sealed FROM sip_trunks WHERE password_sealed IS NOT NULL
                 UNION ALL SELECT secret_sealed FROM webhook_endpoints LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn stale_claims(&self, older_than: Timestamp) -> Result<Vec<PhoneNumber>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE status = 'pending' AND created_at < ?1"
                ))
                .map_err(map_error)?;
            stmt.query_map([older_than.as_millis()], phone_number_from_row)
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn drop_claim(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<(), StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM phone_numbers WHERE id = ?1 AND workspace_id = ?2 AND status = 'pending'",
                [id.as_str(), workspace.as_str()],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn claim_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: NewPhoneNumber,
    ) -> Result<PhoneNumber, StoreError> {
        let workspace = workspace.clone();
        self.write(move |tx| insert_checked(tx, &workspace, &number))
            .await
    }

    async fn link_sip_trunk_number(
        &self,
        workspace: &WorkspaceId,
        number: NewPhoneNumber,
        sip_trunk: NewSipTrunk,
        actor: &Actor,
    ) -> Result<PhoneNumber, StoreError> {
        let (workspace, actor) = (workspace.clone(), actor.clone());
        self.write(move |tx| {
            let stored = insert_checked(tx, &workspace, &number)?;
            let (mode, username, sealed) = match sip_trunk.auth_mode {
                SipAuthMode::UserPass { username, password_sealed } => ("userpass", Some(username), Some(password_sealed)),
                SipAuthMode::Ip => ("ip", None, None),
            };
            tx.execute(
                "INSERT INTO sip_trunks (phone_number_id, termination_uri, auth_mode, username, password_sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![stored.id.as_str(), sip_trunk.termination_uri, mode, username, sealed],
            )
            .map_err(map_error)?;
            record_history(tx, &workspace, None, Some(&stored), HistoryAction::Linked, &actor)?;
            Ok(stored)
        })
        .await
    }

    async fn phone_number_history(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        page: PageRequest,
    ) -> Result<(Vec<HistoryEntry>, u64), StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.read(move |conn| {
            let total: i64 = conn
                .query_row(
                    "SELECT count(*) FROM phone_number_history WHERE workspace_id = ?1 AND phone_number_id = ?2",
                    [workspace.as_str(), id.as_str()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT action, actor, request_id, changes, created_at FROM phone_number_history
                     WHERE workspace_id = ?1 AND phone_number_id = ?2 ORDER BY seq DESC LIMIT ?3 OFFSET ?4",
                )
                .map_err(map_error)?;
            let entries = stmt
                .query_map(
                    params![workspace.as_str(), id.as_str(), i64::from(page.limit), page.offset() as i64],
                    |row| {
                        let action: String = row.get(0)?;
                        let changes: String = row.get(3)?;
                        Ok(HistoryEntry {
                            action: HistoryAction::parse(&action).ok_or_else(|| corrupt("history action", &action))?,
                            actor: row.get(1)?,
                            request_id: row.get(2)?,
                            changes: serde_json::from_str(&changes).map_err(|_| corrupt("history changes", &changes))?,
                            at: Timestamp::from_millis(row.get(4)?),
                        })
                    },
                )
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            Ok((entries, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn activate_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        bought: NewPhoneNumber,
        actor: &Actor,
    ) -> Result<PhoneNumber, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE phone_numbers SET type = ?1, monthly_cost_cents = ?2, voice = ?3, sms = ?4,
                         status = ?5, provider = ?6, created_at = ?7, updated_at = ?7, revision = revision + 1
                     WHERE id = ?8 AND workspace_id = ?9 AND status = 'pending'",
                    params![
                        bought.number_type.as_str(),
                        bought.monthly_cost.cents(),
                        bought.capabilities.voice,
                        bought.capabilities.sms,
                        bought.status.as_str(),
                        bought.provider,
                        Timestamp::now().as_millis(),
                        id.as_str(),
                        workspace.as_str(),
                    ],
                )
                .map_err(map_error)?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("pending phone number {id}")));
            }
            let stored = read_number(tx, &workspace, &id)?.ok_or_else(|| StoreError::NotFound(format!("phone number {id}")))?;
            record_history(tx, &workspace, None, Some(&stored), HistoryAction::Purchased, &actor)?;
            Ok(stored)
        })
        .await
    }

    async fn claim_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        request_sha256: [u8; 32],
    ) -> Result<IdempotencyClaim, StoreError> {
        let (workspace, key) = (workspace.clone(), key.to_owned());
        self.write(move |tx| {
            let now = Timestamp::now().as_millis();
            tx.execute(
                "DELETE FROM idempotency_keys WHERE workspace_id = ?1 AND key = ?2
                 AND (created_at < ?3 OR (status = 0 AND created_at < ?4))",
                params![
                    workspace.as_str(),
                    key,
                    now - IDEMPOTENCY_WINDOW_MS,
                    now - IDEMPOTENCY_ABANDONED_MS
                ],
            )
            .map_err(map_error)?;
            let existing: Option<(Vec<u8>, i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT request_sha256, status, body FROM idempotency_keys WHERE workspace_id = ?1 AND key = ?2",
                    params![workspace.as_str(), key],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(map_error)?;
            match existing {
                None => {
                    // status 0: claimed, response not stored yet.
                    tx.execute(
                        "INSERT INTO idempotency_keys (workspace_id, key, request_sha256, status, body, created_at)
                         VALUES (?1, ?2, ?3, 0, x'', ?4)",
                        params![workspace.as_str(), key, request_sha256.as_slice(), now],
                    )
                    .map_err(map_error)?;
                    Ok(IdempotencyClaim::Claimed)
                }
                Some((digest, _, _)) if digest.as_slice() != request_sha256.as_slice() => Ok(IdempotencyClaim::Mismatch),
                Some((_, 0, _)) => Ok(IdempotencyClaim::InProgress),
                Some((_, status, body)) => Ok(IdempotencyClaim::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                }),
            }
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (workspace, key) = (workspace.clone(), key.to_owned());
        self.write(move |tx| {
            tx.execute(
                "UPDATE idempotency_keys SET status = ?1, body = ?2 WHERE workspace_id = ?3 AND key = ?4",
                params![i64::from(status), body, workspace.as_str(), key],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn release_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
    ) -> Result<(), StoreError> {
        let (workspace, key) = (workspace.clone(), key.to_owned());
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM idempotency_keys WHERE workspace_id = ?1 AND key = ?2 AND status = 0",
                params![workspace.as_str(), key],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }
}

fn agent_from_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: parse_id(row.get(0)?, AgentId::parse, "agent id")?,
        workspace_id: parse_id(row.get(1)?, WorkspaceId::parse, "workspace id")?,
        name: row.get(2)?,
        created_at: Timestamp::from_millis(row.get(3)?),
        updated_at: Timestamp::from_millis(row.get(4)?),
    })
}

/// The `WHERE` clause (with `?` placeholders) and its arguments for the workspace's numbers
/// that match `filter`. Only the filters given become SQL, so SQLite walks the workspace's
/// index and nothing else; the statement text (and its cache entry) varies with the set.
fn number_conditions(workspace: &WorkspaceId, filter: &NumberFilter) -> (String, Vec<String>) {
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

fn read_number(
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

fn insert_number(
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

fn agent_exists(
    conn: &Connection,
    workspace: &WorkspaceId,
    agent: &AgentId,
) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM agents WHERE id = ?1 AND workspace_id = ?2")
        .and_then(|mut stmt| stmt.exists([agent.as_str(), workspace.as_str()]))
        .map_err(map_error)
}

/// One PATCH, inside the caller's write transaction.
fn apply_patch(
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
    for (field, change) in [
        ("inbound_agent_id", &patch.inbound_agent_id),
        ("outbound_agent_id", &patch.outbound_agent_id),
    ] {
        if let FieldChange::Set(agent) = change
            && !agent_exists(tx, workspace, agent)?
        {
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
             is_default = ?5, updated_at = ?6, revision = revision + 1
         WHERE id = ?7 AND workspace_id = ?8",
        params![
            next.nickname,
            next.label,
            next.inbound_agent_id.as_ref().map(AgentId::as_str),
            next.outbound_agent_id.as_ref().map(AgentId::as_str),
            next.is_default,
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
fn insert_checked(
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
fn record_history(
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

fn read_agent(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &AgentId,
) -> Result<Option<Agent>, StoreError> {
    conn.query_row(
        "SELECT id, workspace_id, name, created_at, updated_at FROM agents WHERE id = ?1 AND workspace_id = ?2",
        [id.as_str(), workspace.as_str()],
        agent_from_row,
    )
    .optional()
    .map_err(map_error)
}

/// The `WHERE` conditions (with `?`) and arguments of an event filter, after the workspace's.
fn event_conditions(workspace: &WorkspaceId, filter: &EventFilter) -> (String, Vec<SqlValue>) {
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

const EVENT_COLUMNS: &str =
    "seq, type, subject_id, phone_number, actor, request_id, changes, created_at";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
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
