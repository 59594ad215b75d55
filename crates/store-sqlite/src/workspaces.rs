//! Workspaces, API keys, the catalogue (countries, pricing) and the sealing key's stamp.

use crate::outbox::record_event;
use crate::queries::*;
use crate::rows::{corrupt, parse_id};
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use serde_json::json;
use switchboard_domain::{
    ApiKeyId, Money, NumberType, Scopes, SecretDigest, Timestamp, WorkspaceId,
};
use switchboard_store::WorkspaceStore;
use switchboard_store::{
    Actor, ApiKeyRecord, ApiKeySummary, CountryRule, MAX_LIVE_KEYS_PER_WORKSPACE, NewApiKey,
    NewEvent, NewWorkspace, PoolUsage, Price, StoreError, Workspace, WorkspaceUpdate,
    scopes_within_sql, too_many_keys,
};

#[async_trait]
impl WorkspaceStore for SqliteStore {
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
                    "SELECT workspace_id, secret_sha256, scopes, expires_at, revoked_at, name
                     FROM api_keys WHERE id = ?1",
                )
                .map_err(map_error)?;
            stmt.query_row([id.as_str()], |row| {
                let digest: Vec<u8> = row.get(1)?;
                let scopes: String = row.get(2)?;
                Ok(ApiKeyRecord {
                    id: id.clone(),
                    name: row.get(5)?,
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
}
