//! The `Store` methods: SQL for each use case.

use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use switchboard_domain::{
    AgentId, ApiKeyId, Capabilities, E164, Money, NumberStatus, NumberType, PhoneNumber,
    PhoneNumberId, Scopes, SecretDigest, Timestamp, WorkspaceId,
};
use switchboard_store::{
    Agent, ApiKeyRecord, NewApiKey, NewPhoneNumber, NewWorkspace, Store, StoreError, Workspace,
};

const PHONE_NUMBER_COLUMNS: &str = "id, workspace_id, phone_number, country_code, type, \
    monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, outbound_agent_id, \
    status, provider, sip_trunk_enabled, is_default, created_at, updated_at";

/// A value in the database that no code path of ours writes: the file was edited by hand or
/// is corrupt. Reported, never papered over.
fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, format!("{what} {value:?}"), rusqlite::types::Type::Text)
}

fn parse_id<T>(value: String, parse: fn(&str) -> Option<T>, what: &str) -> rusqlite::Result<T> {
    parse(&value).ok_or_else(|| corrupt(what, &value))
}

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

    async fn create_api_key(&self, key: NewApiKey) -> Result<(), StoreError> {
        self.write(move |tx| {
            require_workspace(tx, &key.workspace_id)?;
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

    async fn create_agent(&self, workspace: &WorkspaceId, name: &str) -> Result<Agent, StoreError> {
        let workspace = workspace.clone();
        let name = name.to_owned();
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
    ) -> Result<Vec<PhoneNumberId>, StoreError> {
        let workspace = workspace.clone();
        self.write(move |tx| {
            require_workspace(tx, &workspace)?;
            let mut agent_in_workspace = tx
                .prepare_cached("SELECT 1 FROM agents WHERE id = ?1 AND workspace_id = ?2")
                .map_err(map_error)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO phone_numbers (id, workspace_id, phone_number, country_code, type,
                         monthly_cost_cents, voice, sms, label, nickname, inbound_agent_id, status,
                         provider, sip_trunk_enabled, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
                )
                .map_err(map_error)?;
            let now = Timestamp::now().as_millis();
            let mut ids = Vec::with_capacity(numbers.len());
            for new in numbers {
                if let Some(agent) = &new.inbound_agent_id
                    && !agent_in_workspace
                        .exists([agent.as_str(), workspace.as_str()])
                        .map_err(map_error)?
                {
                    return Err(StoreError::NotFound(format!("agent {agent}")));
                }
                let id = PhoneNumberId::generate();
                insert
                    .execute(params![
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
                    .map_err(|e| match map_error(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict(format!("{} is already registered", new.number))
                        }
                        other => other,
                    })?;
                ids.push(id);
            }
            Ok(ids)
        })
        .await
    }
}
