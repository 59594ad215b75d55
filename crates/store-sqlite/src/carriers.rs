//! What reconciling with each carrier found.

use crate::queries::*;
use crate::rows::{corrupt, parse_id};
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{Row, params};
use switchboard_domain::{PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::{CarrierFinding, CarrierFindingCode, CarrierStore, StoreError};

fn finding_from_row(row: &Row<'_>) -> rusqlite::Result<CarrierFinding> {
    let code: String = row.get(1)?;
    let workspace: Option<String> = row.get(3)?;
    let number: Option<String> = row.get(4)?;
    Ok(CarrierFinding {
        provider: row.get(0)?,
        code: CarrierFindingCode::parse(&code).ok_or_else(|| corrupt("finding code", &code))?,
        phone_number: row.get(2)?,
        number: match (workspace, number) {
            (Some(workspace), Some(number)) => Some((
                parse_id(workspace, WorkspaceId::parse, "workspace id")?,
                parse_id(number, PhoneNumberId::parse, "phone number id")?,
            )),
            _ => None,
        },
        detail: row.get(5)?,
        found_at: Timestamp::from_millis(row.get(6)?),
    })
}

#[async_trait]
impl CarrierStore for SqliteStore {
    async fn numbers_of_provider(&self, provider: &str) -> Result<Vec<PhoneNumber>, StoreError> {
        let provider = provider.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE provider = ?1 AND status = 'active' ORDER BY phone_number"
                ))
                .map_err(map_error)?;
            stmt.query_map([provider], phone_number_from_row)
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn replace_carrier_findings(
        &self,
        provider: &str,
        findings: Vec<CarrierFinding>,
    ) -> Result<(), StoreError> {
        let provider = provider.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM carrier_findings WHERE provider = ?1",
                [&provider],
            )
            .map_err(map_error)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO carrier_findings (provider, code, phone_number, workspace_id, phone_number_id, detail, found_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )
                .map_err(map_error)?;
            for finding in &findings {
                let (workspace, number) = match &finding.number {
                    Some((workspace, number)) => (Some(workspace.as_str()), Some(number.as_str())),
                    None => (None, None),
                };
                insert
                    .execute(params![
                        provider,
                        finding.code.as_str(),
                        finding.phone_number,
                        workspace,
                        number,
                        finding.detail,
                        finding.found_at.as_millis(),
                    ])
                    .map_err(map_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn carrier_findings(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<CarrierFinding>, StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT f.provider, f.code, f.phone_number, f.workspace_id, f.phone_number_id, f.detail, f.found_at \
                     FROM carrier_findings f JOIN phone_numbers p ON p.id = f.phone_number_id \
                     WHERE f.workspace_id = ?1 ORDER BY f.phone_number, f.code",
                )
                .map_err(map_error)?;
            stmt.query_map([workspace.as_str()], finding_from_row)
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }
}
