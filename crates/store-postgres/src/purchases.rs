//! Numbers arriving: purchase claims, activation, SIP-trunk links, imports, and idempotency keys.

use crate::queries::*;
use crate::rows::get;
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use futures_util::future::try_join_all;
use switchboard_domain::{AgentId, E164, PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::PurchaseStore;
use switchboard_store::{
    Actor, HistoryAction, IDEMPOTENCY_ABANDONED_MS, IDEMPOTENCY_WINDOW_MS, IdempotencyClaim,
    NewPhoneNumber, NewSipTrunk, SipAuthMode, StoreError,
};

#[async_trait]
impl PurchaseStore for PostgresStore {
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

    async fn record_order_terms(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        terms: NewPhoneNumber,
    ) -> Result<(), StoreError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE phone_numbers SET type = $1, monthly_cost_cents = $2, voice = $3, sms = $4
                 WHERE id = $5 AND workspace_id = $6 AND status = 'pending'",
                &[
                    &terms.number_type.as_str(),
                    &terms.monthly_cost.cents(),
                    &terms.capabilities.voice,
                    &terms.capabilities.sms,
                    &id.as_str(),
                    &workspace.as_str(),
                ],
            )
            .await
            .map_err(map_error)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("pending phone number {id}")));
        }
        Ok(())
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
