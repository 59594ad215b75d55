//! Numbers arriving: purchase claims, activation, SIP-trunk links, imports, and idempotency keys.

use crate::queries::*;
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use switchboard_domain::{E164, PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::PurchaseStore;
use switchboard_store::{
    Actor, HistoryAction, IDEMPOTENCY_ABANDONED_MS, IDEMPOTENCY_WINDOW_MS, IdempotencyClaim,
    NewPhoneNumber, NewSipTrunk, SipAuthMode, StoreError,
};

#[async_trait]
impl PurchaseStore for SqliteStore {
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

    async fn record_order_terms(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        terms: NewPhoneNumber,
    ) -> Result<(), StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE phone_numbers SET type = ?1, monthly_cost_cents = ?2, voice = ?3, sms = ?4
                     WHERE id = ?5 AND workspace_id = ?6 AND status = 'pending'",
                    params![
                        terms.number_type.as_str(),
                        terms.monthly_cost.cents(),
                        terms.capabilities.voice,
                        terms.capabilities.sms,
                        id.as_str(),
                        workspace.as_str(),
                    ],
                )
                .map_err(map_error)?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("pending phone number {id}")));
            }
            Ok(())
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
