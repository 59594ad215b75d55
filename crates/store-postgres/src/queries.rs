//! The `Store` methods in PostgreSQL's SQL.

use crate::outbox::record_event;
use crate::rows::{corrupt, get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use futures_util::future::try_join_all;
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
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Numbers an import sends to the server at once (see `import_phone_numbers`).
const IMPORT_CHUNK: usize = 1000;

const PHONE_NUMBER_COLUMNS: &str = "id, workspace_id, phone_number, country_code, type, \
    monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, outbound_agent_id, \
    status, provider, sip_trunk_enabled, is_default, created_at, updated_at, revision";

fn optional_agent(value: Option<String>) -> Result<Option<AgentId>, StoreError> {
    value
        .map(|v| parse_id(v, AgentId::parse, "agent id"))
        .transpose()
}

fn phone_number_from_row(row: &Row) -> Result<PhoneNumber, StoreError> {
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
    })
}

fn workspace_from_row(row: &Row) -> Result<Workspace, StoreError> {
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

fn agent_from_row(row: &Row) -> Result<Agent, StoreError> {
    Ok(Agent {
        id: parse_id(get(row, 0)?, AgentId::parse, "agent id")?,
        workspace_id: parse_id(get(row, 1)?, WorkspaceId::parse, "workspace id")?,
        name: get(row, 2)?,
        created_at: Timestamp::from_millis(get(row, 3)?),
        updated_at: Timestamp::from_millis(get(row, 4)?),
    })
}

const WORKSPACE_COLUMNS: &str = "id, name, enabled_countries, kyc_verified, created_at";
const AGENT_COLUMNS: &str = "id, workspace_id, name, created_at, updated_at";

async fn workspace_exists(
    client: &impl GenericClient,
    id: &WorkspaceId,
) -> Result<bool, StoreError> {
    Ok(client
        .query_opt("SELECT 1 FROM workspaces WHERE id = $1", &[&id.as_str()])
        .await
        .map_err(map_error)?
        .is_some())
}

async fn require_workspace(
    client: &impl GenericClient,
    id: &WorkspaceId,
) -> Result<(), StoreError> {
    if workspace_exists(client, id).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("workspace {id}")))
    }
}

async fn agent_exists(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    agent: &AgentId,
) -> Result<bool, StoreError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM agents WHERE id = $1 AND workspace_id = $2",
            &[&agent.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?
        .is_some())
}

async fn read_number(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &PhoneNumberId,
) -> Result<Option<PhoneNumber>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE id = $1 AND workspace_id = $2"),
            &[&id.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?
        .as_ref()
        .map(phone_number_from_row)
        .transpose()
}

async fn insert_number(
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
async fn insert_checked(
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
async fn lock_agent(
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
fn event_conditions(
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

const EVENT_COLUMNS: &str =
    "txid, seq, type, subject_id, phone_number, actor, request_id, changes, created_at";

fn event_from_row(row: &Row) -> Result<Event, StoreError> {
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
fn number_conditions(workspace: &WorkspaceId, filter: &NumberFilter) -> (String, Vec<String>) {
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
async fn lock_number(
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
async fn record_history(
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

#[async_trait]
impl Store for PostgresStore {
    fn pool_usage(&self) -> Option<PoolUsage> {
        let (in_use, max) = PostgresStore::pool_usage(self);
        Some(PoolUsage { in_use, max })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute("SELECT 1", &[])
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, StoreError> {
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
        self.client()
            .await?
            .execute(
                "INSERT INTO workspaces (id, name, enabled_countries, kyc_verified, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
                &[
                    &workspace.id.as_str(),
                    &workspace.name,
                    &workspace.enabled_countries.join(","),
                    &workspace.kyc_verified,
                    &workspace.created_at.as_millis(),
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(workspace)
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1"),
                &[&id.as_str()],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(workspace_from_row)
            .transpose()
    }

    async fn count_workspaces(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .client()
            .await?
            .query_one("SELECT count(*) FROM workspaces", &[])
            .await
            .map_err(map_error)?
            .get(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.client()
            .await?
            .query(
                &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY created_at, id"),
                &[],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(workspace_from_row)
            .collect()
    }

    async fn update_workspace(
        &self,
        id: &WorkspaceId,
        update: WorkspaceUpdate,
        actor: &Actor,
    ) -> Result<Option<Workspace>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = tx
            .query_opt(
                &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1 FOR UPDATE"),
                &[&id.as_str()],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(workspace_from_row)
            .transpose()?
        else {
            return Ok(None);
        };
        let now = Timestamp::now().as_millis();
        if let Some(mut countries) = update.enabled_countries {
            countries.sort();
            countries.dedup();
            tx.execute(
                "UPDATE workspaces SET enabled_countries = $1, updated_at = $2 WHERE id = $3",
                &[&countries.join(","), &now, &id.as_str()],
            )
            .await
            .map_err(map_error)?;
        }
        if let Some(kyc) = update.kyc_verified {
            tx.execute(
                "UPDATE workspaces SET kyc_verified = $1, updated_at = $2 WHERE id = $3",
                &[&kyc, &now, &id.as_str()],
            )
            .await
            .map_err(map_error)?;
        }
        let workspace = tx
            .query_opt(
                &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1"),
                &[&id.as_str()],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(workspace_from_row)
            .transpose()?;
        if let Some(after) = &workspace
            && let Some(event) =
                NewEvent::of_workspace(&before, after, actor, Timestamp::from_millis(now))
        {
            record_event(&tx, id, &event).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(workspace)
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        // The workspace's row, locked, so that two creations cannot both pass the count.
        if tx
            .query_opt(
                "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE",
                &[&key.workspace_id.as_str()],
            )
            .await
            .map_err(map_error)?
            .is_none()
        {
            return Err(StoreError::NotFound(format!(
                "workspace {}",
                key.workspace_id
            )));
        }
        let live: i64 = tx
            .query_one(
                "SELECT count(*) FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > $2)",
                &[&key.workspace_id.as_str(), &Timestamp::now().as_millis()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        if live >= MAX_LIVE_KEYS_PER_WORKSPACE {
            return Err(too_many_keys());
        }
        tx.execute(
            "INSERT INTO api_keys (id, workspace_id, name, secret_sha256, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &key.id.as_str(),
                &key.workspace_id.as_str(),
                &key.name,
                &key.secret_digest.as_bytes().as_slice(),
                &key.scopes.to_list(),
                &Timestamp::now().as_millis(),
                &key.expires_at.map(Timestamp::as_millis),
            ],
        )
        .await
        .map_err(map_error)?;
        let now = Timestamp::now();
        let changes = json!({
            "name": {"before": null, "after": key.name},
            "scopes": {"before": null, "after": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()},
        });
        record_event(
            &tx,
            &key.workspace_id,
            &NewEvent::of_api_key("api_key.created", key.id.as_str(), changes, &key.actor, now),
        )
        .await?;
        if let Some(at) = key.expire_others_at {
            let rotated = tx
                .query(
                    &format!(
                        "UPDATE api_keys AS k SET expires_at = $1 FROM api_keys AS old
                         WHERE k.id = old.id AND k.workspace_id = $2 AND k.id <> $3
                           AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $1)
                           AND {}
                         RETURNING k.id, old.expires_at",
                        scopes_within_sql("k.scopes", key.expire_others_within)
                    ),
                    &[
                        &at.as_millis(),
                        &key.workspace_id.as_str(),
                        &key.id.as_str(),
                    ],
                )
                .await
                .map_err(map_error)?;
            for row in rotated {
                let (id, before): (String, Option<i64>) = (row.get(0), row.get(1));
                let changes = json!({"expires_at": {
                    "before": before.map(|t| Timestamp::from_millis(t).to_string()),
                    "after": at.to_string(),
                }});
                record_event(
                    &tx,
                    &key.workspace_id,
                    &NewEvent::of_api_key("api_key.expiry_set", &id, changes, &key.actor, now),
                )
                .await?;
            }
        }
        tx.commit().await.map_err(map_error)
    }

    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT workspace_id, secret_sha256, scopes, expires_at, revoked_at FROM api_keys WHERE id = $1",
            )
            .await
            .map_err(map_error)?;
        let Some(row) = client
            .query_opt(&statement, &[&id.as_str()])
            .await
            .map_err(map_error)?
        else {
            return Ok(None);
        };
        let digest: Vec<u8> = get(&row, 1)?;
        let scopes: String = get(&row, 2)?;
        Ok(Some(ApiKeyRecord {
            id: id.clone(),
            workspace_id: parse_id(get(&row, 0)?, WorkspaceId::parse, "workspace id")?,
            secret_digest: SecretDigest::from_bytes(&digest)
                .ok_or_else(|| corrupt("secret digest of length", &digest.len().to_string()))?,
            scopes: Scopes::parse_list(&scopes).map_err(|_| corrupt("scopes", &scopes))?,
            expires_at: get::<Option<i64>>(&row, 3)?.map(Timestamp::from_millis),
            revoked_at: get::<Option<i64>>(&row, 4)?.map(Timestamp::from_millis),
        }))
    }

    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<ApiKeySummary>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, name, scopes, created_at, last_used_at, expires_at FROM api_keys
                 WHERE workspace_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let scopes: String = get(row, 2)?;
                Ok(ApiKeySummary {
                    id: parse_id(get(row, 0)?, ApiKeyId::parse, "api key id")?,
                    name: get(row, 1)?,
                    scopes: Scopes::parse_list(&scopes).map_err(|_| corrupt("scopes", &scopes))?,
                    created_at: Timestamp::from_millis(get(row, 3)?),
                    last_used_at: get::<Option<i64>>(row, 4)?.map(Timestamp::from_millis),
                    expires_at: get::<Option<i64>>(row, 5)?.map(Timestamp::from_millis),
                })
            })
            .collect()
    }

    async fn revoke_api_key(
        &self,
        workspace: &WorkspaceId,
        id: &ApiKeyId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let now = Timestamp::now();
        let changed = tx
            .execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL",
                &[&now.as_millis(), &id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
        if changed > 0 {
            let changes = json!({"revoked_at": {"before": null, "after": now.to_string()}});
            record_event(
                &tx,
                workspace,
                &NewEvent::of_api_key("api_key.revoked", id.as_str(), changes, actor, now),
            )
            .await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(changed > 0)
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
                &[&at.as_millis(), &id.as_str()],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

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

    async fn countries(&self) -> Result<Vec<CountryRule>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT rule_id, country_iso, country_name, calling_code, max_length, prefixes, requires_kyc
                 FROM countries ORDER BY country_iso",
                &[],
            )
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let prefixes: String = get(row, 5)?;
                Ok(CountryRule {
                    id: get(row, 0)?,
                    country_iso: get(row, 1)?,
                    country_name: get(row, 2)?,
                    calling_code: get(row, 3)?,
                    max_length: get(row, 4)?,
                    prefixes: prefixes
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    requires_kyc: get(row, 6)?,
                })
            })
            .collect()
    }

    async fn pricing(&self) -> Result<Vec<Price>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT p.provider, p.country_iso, c.country_name, p.type, p.monthly_cents, p.setup_cents,
                        p.created_at, p.updated_at
                 FROM pricing p JOIN countries c USING (country_iso)
                 ORDER BY p.provider, p.country_iso, p.type",
                &[],
            )
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let type_text: String = get(row, 3)?;
                let monthly: i64 = get(row, 4)?;
                let setup: i64 = get(row, 5)?;
                Ok(Price {
                    provider: get(row, 0)?,
                    country_iso: get(row, 1)?,
                    country_name: get(row, 2)?,
                    number_type: NumberType::parse(&type_text)
                        .map_err(|_| corrupt("number type", &type_text))?,
                    monthly: Money::from_cents(monthly)
                        .map_err(|_| corrupt("price", &monthly.to_string()))?,
                    setup: Money::from_cents(setup)
                        .map_err(|_| corrupt("price", &setup.to_string()))?,
                    created_at: Timestamp::from_millis(get(row, 6)?),
                    updated_at: Timestamp::from_millis(get(row, 7)?),
                })
            })
            .collect()
    }

    async fn get_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE id = $1 AND workspace_id = $2"
            ))
            .await
            .map_err(map_error)?;
        client
            .query_opt(&statement, &[&id.as_str(), &workspace.as_str()])
            .await
            .map_err(map_error)?
            .as_ref()
            .map(phone_number_from_row)
            .transpose()
    }

    async fn list_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        page: PageRequest,
    ) -> Result<(Vec<PhoneNumber>, u64), StoreError> {
        let (where_clause, args) = number_conditions(workspace, filter);
        // Only the workspace's own condition: its count is kept up to date in a table.
        let filtered = args.len() > 1;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let client = self.client().await?;
        let total: i64 = if filtered {
            client
                .query_one(
                    &format!("SELECT count(*) FROM phone_numbers WHERE {where_clause}"),
                    &params,
                )
                .await
                .map_err(map_error)?
                .get(0)
        } else {
            client
                .query_opt(
                    "SELECT numbers FROM workspace_number_counts WHERE workspace_id = $1",
                    &[&workspace.as_str()],
                )
                .await
                .map_err(map_error)?
                .map_or(0, |row| row.get(0))
        };
        let limit = i64::from(page.limit);
        let offset = page.offset() as i64;
        let mut page_params = params.clone();
        page_params.push(&limit);
        page_params.push(&offset);
        let rows = client
            .query(
                &format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {where_clause}
                     ORDER BY created_at, id LIMIT ${} OFFSET ${}",
                    args.len() + 1,
                    args.len() + 2
                ),
                &page_params,
            )
            .await
            .map_err(map_error)?;
        let items = rows
            .iter()
            .map(phone_number_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        let (where_clause, mut args) = event_conditions(workspace, filter);
        let client = self.client().await?;
        fn params(args: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
            args.iter()
                .map(|a| a.as_ref() as &(dyn ToSql + Sync))
                .collect()
        }
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM events WHERE {where_clause}"),
                &params(&args),
            )
            .await
            .map_err(map_error)?
            .get(0);
        args.push(Box::new(i64::from(page.limit)));
        args.push(Box::new(page.offset() as i64));
        let rows = client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE {where_clause} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
                    args.len() - 1,
                    args.len()
                ),
                &params(&args),
            )
            .await
            .map_err(map_error)?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((events, u64::try_from(total).unwrap_or(0)))
    }

    async fn events_after(
        &self,
        workspace: &WorkspaceId,
        after: EventCursor,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        // Only rows of transactions older than the oldest one still running: any of those
        // could yet commit a row that sorts before what this read returns.
        let (where_clause, mut args) = event_conditions(workspace, filter);
        args.push(Box::new(after.txid));
        args.push(Box::new(after.seq));
        args.push(Box::new(i64::from(limit)));
        let n = args.len();
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE {where_clause} AND (txid, seq) > (${}, ${})
                       AND txid < txid_snapshot_xmin(txid_current_snapshot())
                     ORDER BY txid, seq LIMIT ${n}",
                    n - 2,
                    n - 1
                ),
                &params,
            )
            .await
            .map_err(map_error)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn summarize_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        group_by: &[NumberGroup],
    ) -> Result<Vec<NumberGroupTotals>, StoreError> {
        let (where_clause, args) = number_conditions(workspace, filter);
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self
            .client()
            .await?
            .query(&summary_sql(&where_clause, group_by), &params)
            .await
            .map_err(map_error)?;
        let keys = group_by.len();
        let by_agent = group_by.contains(&NumberGroup::InboundAgent);
        rows.iter()
            .map(|row| {
                let cents: i64 = row.get(keys + 1);
                Ok(NumberGroupTotals {
                    keys: (0..keys).map(|i| row.get::<_, Option<String>>(i)).collect(),
                    agent_name: if by_agent { row.get(keys + 2) } else { None },
                    count: u64::try_from(row.get::<_, i64>(keys)).unwrap_or(0),
                    monthly_cost: Money::from_cents(cents)
                        .map_err(|_| corrupt("monthly cost total", &cents.to_string()))?,
                })
            })
            .collect()
    }

    fn stream_phone_numbers(&self, workspace: &WorkspaceId, filter: &NumberFilter) -> NumberStream {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let (where_clause, args) = number_conditions(workspace, filter);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            // A portal in one transaction, fetched a batch at a time: the server keeps the
            // cursor, this process holds one batch, and ending early closes the cursor.
            let read = async {
                let mut client = pool.get().await.map_err(|e| {
                    StoreError::Unavailable(format!("no PostgreSQL connection: {e}"))
                })?;
                let tx = client.transaction().await.map_err(map_error)?;
                let statement = tx
                    .prepare(&format!(
                        "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE {where_clause} ORDER BY created_at, id"
                    ))
                    .await
                    .map_err(map_error)?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                let portal = tx.bind(&statement, &params).await.map_err(map_error)?;
                const BATCH: i32 = 500;
                loop {
                    let rows = tx.query_portal(&portal, BATCH).await.map_err(map_error)?;
                    for row in &rows {
                        if sender.send(phone_number_from_row(row)).await.is_err() {
                            return Ok(());
                        }
                    }
                    if rows.len() < BATCH as usize {
                        return Ok(());
                    }
                }
            };
            if let Err(error) = read.await {
                let _ = sender.send(Err(error)).await;
            }
        });
        receiver
    }

    async fn find_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: &E164,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE phone_number = $1 AND workspace_id = $2"),
                &[&number.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(phone_number_from_row)
            .transpose()
    }

    async fn update_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        patch: PhoneNumberPatch,
        expected_revision: Option<i64>,
        actor: &Actor,
    ) -> Result<PhoneNumber, PatchError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        // One default change per workspace at a time, across replicas.
        if patch.is_default == Some(true) {
            tx.execute(
                "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE",
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
        }
        let current = read_number(&tx, workspace, id)
            .await?
            .ok_or(PatchError::NumberNotFound)?;
        if expected_revision.is_some_and(|r| r != current.revision) {
            return Err(PatchError::Changed);
        }
        let before = current.clone();
        for (field, change) in [
            ("inbound_agent_id", &patch.inbound_agent_id),
            ("outbound_agent_id", &patch.outbound_agent_id),
        ] {
            if let FieldChange::Set(agent) = change
                && !agent_exists(&tx, workspace, agent).await?
            {
                return Err(PatchError::UnknownAgent(field));
            }
        }
        let Some(next) = patch.apply_to(&current) else {
            return Ok(before);
        };
        let now = Timestamp::now().as_millis();
        if next.is_default && !current.is_default {
            let previous = tx
                .query_opt(
                    "SELECT id FROM phone_numbers WHERE workspace_id = $1 AND is_default",
                    &[&workspace.as_str()],
                )
                .await
                .map_err(map_error)?;
            if let Some(previous) =
                previous.and_then(|row| PhoneNumberId::parse(&row.get::<_, String>(0)))
            {
                let previous_before = read_number(&tx, workspace, &previous).await?;
                tx.execute(
                    "UPDATE phone_numbers SET is_default = false, updated_at = $1, revision = revision + 1 WHERE id = $2",
                    &[&now, &previous.as_str()],
                )
                .await
                .map_err(map_error)?;
                let previous_after = read_number(&tx, workspace, &previous).await?;
                record_history(
                    &tx,
                    workspace,
                    previous_before.as_ref(),
                    previous_after.as_ref(),
                    HistoryAction::Updated,
                    actor,
                )
                .await?;
            }
        }
        tx.execute(
            "UPDATE phone_numbers SET nickname = $1, label = $2, inbound_agent_id = $3, outbound_agent_id = $4,
                 is_default = $5, updated_at = $6, revision = revision + 1
             WHERE id = $7 AND workspace_id = $8",
            &[
                &next.nickname,
                &next.label,
                &next.inbound_agent_id.as_ref().map(AgentId::as_str),
                &next.outbound_agent_id.as_ref().map(AgentId::as_str),
                &next.is_default,
                &now,
                &id.as_str(),
                &workspace.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        let updated = read_number(&tx, workspace, id)
            .await?
            .ok_or(PatchError::NumberNotFound)?;
        record_history(
            &tx,
            workspace,
            Some(&before),
            Some(&updated),
            HistoryAction::Updated,
            actor,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn delete_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = lock_number(&tx, workspace, id).await? else {
            return Ok(false);
        };
        tx.execute(
            "DELETE FROM phone_numbers WHERE id = $1 AND workspace_id = $2",
            &[&id.as_str(), &workspace.as_str()],
        )
        .await
        .map_err(map_error)?;
        record_history(
            &tx,
            workspace,
            Some(&before),
            None,
            HistoryAction::Released,
            actor,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }

    async fn begin_release(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        expected_revision: Option<i64>,
        stale_before: Timestamp,
    ) -> Result<ReleaseClaim, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        // The row lock orders this claim after any PATCH in flight, so the revision read
        // here is the one the claim is judged on.
        let Some(number) = lock_number(&tx, workspace, id).await? else {
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
                "INSERT INTO phone_number_releases (phone_number_id, started_at) VALUES ($1, $2)
                 ON CONFLICT (phone_number_id) DO UPDATE SET started_at = excluded.started_at
                 WHERE phone_number_releases.started_at < $3",
                &[
                    &id.as_str(),
                    &Timestamp::now().as_millis(),
                    &stale_before.as_millis(),
                ],
            )
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(if claimed == 1 {
            ReleaseClaim::Claimed(Box::new(number))
        } else {
            ReleaseClaim::InProgress
        })
    }

    async fn abandon_release(&self, id: &PhoneNumberId) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM phone_number_releases WHERE phone_number_id = $1",
                &[&id.as_str()],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn record_sealing_key_id(&self, key_id: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sealing_key (singleton, key_id, created_at) VALUES (1, $1, $2)
                 ON CONFLICT (singleton) DO NOTHING",
                &[&key_id, &Timestamp::now().as_millis()],
            )
            .await
            .map_err(map_error)?;
        let row = client
            .query_one("SELECT key_id FROM sealing_key", &[])
            .await
            .map_err(map_error)?;
        Ok(row.get(0))
    }

    async fn sealing_key_id(&self) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT key_id FROM sealing_key", &[])
            .await
            .map_err(map_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn sample_sealed_secret(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT password_sealed FROM sip_trunks WHERE password_sealed IS NOT NULL
                 UNION ALL SELECT secret_sealed FROM webhook_endpoints LIMIT 1",
                &[],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn stale_claims(&self, older_than: Timestamp) -> Result<Vec<PhoneNumber>, StoreError> {
        self.client()
            .await?
            .query(
                &format!("SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE status = 'pending' AND created_at < $1"),
                &[&older_than.as_millis()],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(phone_number_from_row)
            .collect()
    }

    async fn drop_claim(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM phone_numbers WHERE id = $1 AND workspace_id = $2 AND status = 'pending'",
                &[&id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn claim_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: NewPhoneNumber,
    ) -> Result<PhoneNumber, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let stored = insert_checked(&tx, workspace, &number).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(stored)
    }

    async fn link_sip_trunk_number(
        &self,
        workspace: &WorkspaceId,
        number: NewPhoneNumber,
        sip_trunk: NewSipTrunk,
        actor: &Actor,
    ) -> Result<PhoneNumber, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let stored = insert_checked(&tx, workspace, &number).await?;
        let (mode, username, sealed) = match sip_trunk.auth_mode {
            SipAuthMode::UserPass {
                username,
                password_sealed,
            } => ("userpass", Some(username), Some(password_sealed)),
            SipAuthMode::Ip => ("ip", None, None),
        };
        tx.execute(
            "INSERT INTO sip_trunks (phone_number_id, termination_uri, auth_mode, username, password_sealed)
             VALUES ($1, $2, $3, $4, $5)",
            &[&stored.id.as_str(), &sip_trunk.termination_uri, &mode, &username, &sealed],
        )
        .await
        .map_err(map_error)?;
        record_history(
            &tx,
            workspace,
            None,
            Some(&stored),
            HistoryAction::Linked,
            actor,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(stored)
    }

    async fn phone_number_history(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        page: PageRequest,
    ) -> Result<(Vec<HistoryEntry>, u64), StoreError> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM phone_number_history WHERE workspace_id = $1 AND phone_number_id = $2",
                &[&workspace.as_str(), &id.as_str()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        let rows = client
            .query(
                "SELECT action, actor, request_id, changes, created_at FROM phone_number_history
                 WHERE workspace_id = $1 AND phone_number_id = $2 ORDER BY seq DESC LIMIT $3 OFFSET $4",
                &[&workspace.as_str(), &id.as_str(), &i64::from(page.limit), &(page.offset() as i64)],
            )
            .await
            .map_err(map_error)?;
        let entries = rows
            .iter()
            .map(|row| {
                let action: String = get(row, 0)?;
                let changes: String = get(row, 3)?;
                Ok(HistoryEntry {
                    action: HistoryAction::parse(&action)
                        .ok_or_else(|| corrupt("history action", &action))?,
                    actor: get(row, 1)?,
                    request_id: get(row, 2)?,
                    changes: serde_json::from_str(&changes)
                        .map_err(|_| corrupt("history changes", &changes))?,
                    at: Timestamp::from_millis(get(row, 4)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((entries, u64::try_from(total).unwrap_or(0)))
    }

    async fn activate_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        bought: NewPhoneNumber,
        actor: &Actor,
    ) -> Result<PhoneNumber, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let stored = tx
            .query_opt(
                &format!(
                    "UPDATE phone_numbers SET type = $1, monthly_cost_cents = $2, voice = $3, sms = $4,
                         status = $5, provider = $6, created_at = $7, updated_at = $7, revision = revision + 1
                     WHERE id = $8 AND workspace_id = $9 AND status = 'pending'
                     RETURNING {PHONE_NUMBER_COLUMNS}"
                ),
                &[
                    &bought.number_type.as_str(),
                    &bought.monthly_cost.cents(),
                    &bought.capabilities.voice,
                    &bought.capabilities.sms,
                    &bought.status.as_str(),
                    &bought.provider,
                    &Timestamp::now().as_millis(),
                    &id.as_str(),
                    &workspace.as_str(),
                ],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(phone_number_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("pending phone number {id}")))?;
        record_history(
            &tx,
            workspace,
            None,
            Some(&stored),
            HistoryAction::Purchased,
            actor,
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(stored)
    }

    async fn registered_numbers(&self, numbers: &[E164]) -> Result<Vec<E164>, StoreError> {
        let texts: Vec<&str> = numbers.iter().map(E164::as_str).collect();
        let rows = self
            .client()
            .await?
            .query(
                "SELECT phone_number FROM phone_numbers WHERE phone_number = ANY($1)",
                &[&texts],
            )
            .await
            .map_err(map_error)?;
        let taken: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(numbers
            .iter()
            .filter(|n| taken.contains(n.as_str()))
            .cloned()
            .collect())
    }

    async fn import_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        numbers: Vec<NewPhoneNumber>,
        actor: &Actor,
    ) -> Result<Vec<PhoneNumberId>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        require_workspace(&tx, workspace).await?;
        // Every agent the file names, in one query; the first unknown one (in file order)
        // stops the import.
        let named: Vec<&str> = numbers
            .iter()
            .filter_map(|n| n.inbound_agent_id.as_ref().map(AgentId::as_str))
            .collect();
        if !named.is_empty() {
            let known: std::collections::HashSet<String> = tx
                .query(
                    "SELECT id FROM agents WHERE workspace_id = $1 AND id = ANY($2)",
                    &[&workspace.as_str(), &named],
                )
                .await
                .map_err(map_error)?
                .iter()
                .map(|row| get::<String>(row, 0))
                .collect::<Result<_, _>>()?;
            if let Some(unknown) = named.iter().find(|a| !known.contains(**a)) {
                return Err(StoreError::NotFound(format!("agent {unknown}")));
            }
        }
        let now = Timestamp::now().as_millis();
        let ids: Vec<PhoneNumberId> = numbers.iter().map(|_| PhoneNumberId::generate()).collect();
        // Statements issued together on one connection are pipelined by tokio-postgres: a
        // chunk costs about one round trip instead of three per number.
        for (chunk, chunk_ids) in numbers.chunks(IMPORT_CHUNK).zip(ids.chunks(IMPORT_CHUNK)) {
            try_join_all(
                chunk
                    .iter()
                    .zip(chunk_ids)
                    .map(|(new, id)| insert_number(&tx, workspace, id, new, now)),
            )
            .await?;
            let id_texts: Vec<&str> = chunk_ids.iter().map(PhoneNumberId::as_str).collect();
            let stored: Vec<PhoneNumber> = tx
                .query(
                    &format!(
                        "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE workspace_id = $1 AND id = ANY($2)"
                    ),
                    &[&workspace.as_str(), &id_texts],
                )
                .await
                .map_err(map_error)?
                .iter()
                .map(phone_number_from_row)
                .collect::<Result<_, _>>()?;
            try_join_all(stored.iter().map(|number| {
                record_history(
                    &tx,
                    workspace,
                    None,
                    Some(number),
                    HistoryAction::Imported,
                    actor,
                )
            }))
            .await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(ids)
    }

    async fn claim_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        request_sha256: [u8; 32],
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let now = Timestamp::now().as_millis();
        tx.execute(
            "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2
                 AND (created_at < $3 OR (status = 0 AND created_at < $4))",
            &[
                &workspace.as_str(),
                &key,
                &(now - IDEMPOTENCY_WINDOW_MS),
                &(now - IDEMPOTENCY_ABANDONED_MS),
            ],
        )
        .await
        .map_err(map_error)?;
        // Of concurrent claims (on any replica), the primary key lets exactly one insert.
        let inserted = tx
            .execute(
                "INSERT INTO idempotency_keys (workspace_id, key, request_sha256, status, body, created_at)
                 VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT DO NOTHING",
                &[&workspace.as_str(), &key, &request_sha256.as_slice(), &now],
            )
            .await
            .map_err(map_error)?;
        let claim = if inserted == 1 {
            IdempotencyClaim::Claimed
        } else {
            let row = tx
                .query_one(
                    "SELECT request_sha256, status, body FROM idempotency_keys WHERE workspace_id = $1 AND key = $2",
                    &[&workspace.as_str(), &key],
                )
                .await
                .map_err(map_error)?;
            let digest: Vec<u8> = get(&row, 0)?;
            let status: i64 = get(&row, 1)?;
            if digest.as_slice() != request_sha256.as_slice() {
                IdempotencyClaim::Mismatch
            } else if status == 0 {
                IdempotencyClaim::InProgress
            } else {
                IdempotencyClaim::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body: get(&row, 2)?,
                }
            }
        };
        tx.commit().await.map_err(map_error)?;
        Ok(claim)
    }

    async fn complete_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE idempotency_keys SET status = $1, body = $2 WHERE workspace_id = $3 AND key = $4",
                &[&i64::from(status), &body, &workspace.as_str(), &key],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND status = 0",
                &[&workspace.as_str(), &key],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
