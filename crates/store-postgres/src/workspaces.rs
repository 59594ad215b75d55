//! Workspaces, API keys, the catalogue (countries, pricing) and the sealing key's stamp.

use crate::outbox::record_event;
use crate::queries::*;
use crate::rows::{corrupt, get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
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
impl WorkspaceStore for PostgresStore {
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
        let client = self.point_read_client().await?;
        let statement = client
            .prepare_cached(
                "SELECT workspace_id, secret_sha256, scopes, expires_at, revoked_at, name FROM api_keys WHERE id = $1",
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
            name: get(&row, 5)?,
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
}
