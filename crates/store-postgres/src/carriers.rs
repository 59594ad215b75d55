//! What reconciling with each carrier found.

use crate::queries::*;
use crate::rows::{corrupt, get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use switchboard_domain::{PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId};
use switchboard_store::{CarrierFinding, CarrierFindingCode, CarrierStore, StoreError};
use tokio_postgres::Row;

fn finding_from_row(row: &Row) -> Result<CarrierFinding, StoreError> {
    let code: String = get(row, 1)?;
    let workspace: Option<String> = get(row, 3)?;
    let number: Option<String> = get(row, 4)?;
    Ok(CarrierFinding {
        provider: get(row, 0)?,
        code: CarrierFindingCode::parse(&code).ok_or_else(|| corrupt("finding code", &code))?,
        phone_number: get(row, 2)?,
        number: match (workspace, number) {
            (Some(workspace), Some(number)) => Some((
                parse_id(workspace, WorkspaceId::parse, "workspace id")?,
                parse_id(number, PhoneNumberId::parse, "phone number id")?,
            )),
            _ => None,
        },
        detail: get(row, 5)?,
        found_at: Timestamp::from_millis(get(row, 6)?),
    })
}

#[async_trait]
impl CarrierStore for PostgresStore {
    async fn numbers_of_provider(&self, provider: &str) -> Result<Vec<PhoneNumber>, StoreError> {
        self.client()
            .await?
            .query(
                &format!("SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE provider = $1 AND status = 'active' ORDER BY phone_number"),
                &[&provider],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(phone_number_from_row)
            .collect()
    }

    async fn replace_carrier_findings(
        &self,
        provider: &str,
        findings: Vec<CarrierFinding>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        tx.execute(
            "DELETE FROM carrier_findings WHERE provider = $1",
            &[&provider],
        )
        .await
        .map_err(map_error)?;
        let insert = tx
            .prepare(
                "INSERT INTO carrier_findings (provider, code, phone_number, workspace_id, phone_number_id, detail, found_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(map_error)?;
        for finding in &findings {
            let (workspace, number) = match &finding.number {
                Some((workspace, number)) => (Some(workspace.as_str()), Some(number.as_str())),
                None => (None, None),
            };
            tx.execute(
                &insert,
                &[
                    &provider,
                    &finding.code.as_str(),
                    &finding.phone_number,
                    &workspace,
                    &number,
                    &finding.detail,
                    &finding.found_at.as_millis(),
                ],
            )
            .await
            .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)
    }

    async fn carrier_findings(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<CarrierFinding>, StoreError> {
        self.client()
            .await?
            .query(
                "SELECT f.provider, f.code, f.phone_number, f.workspace_id, f.phone_number_id, f.detail, f.found_at \
                 FROM carrier_findings f JOIN phone_numbers p ON p.id = f.phone_number_id \
                 WHERE f.workspace_id = $1 ORDER BY f.phone_number, f.code",
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(finding_from_row)
            .collect()
    }
}
