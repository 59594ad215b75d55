//! What reconciling with a carrier found: a number gone there, a number whose calls it sends
//! elsewhere, a number it bills for that no workspace here holds.

use async_trait::async_trait;
use switchboard_domain::{PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId};

use crate::StoreError;

/// The kinds of finding. Codes are stable: scripts and the compliance report match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CarrierFindingCode {
    /// The carrier sends the number's calls somewhere other than Switchboard.
    CarrierDrift,
    /// Active here, no longer held at the carrier.
    MissingAtCarrier,
    /// Held (and billed) at the carrier, held by no workspace here.
    UnknownAtCarrier,
}

impl CarrierFindingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            CarrierFindingCode::CarrierDrift => "carrier_drift",
            CarrierFindingCode::MissingAtCarrier => "missing_at_carrier",
            CarrierFindingCode::UnknownAtCarrier => "unknown_at_carrier",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            CarrierFindingCode::CarrierDrift,
            CarrierFindingCode::MissingAtCarrier,
            CarrierFindingCode::UnknownAtCarrier,
        ]
        .into_iter()
        .find(|code| code.as_str() == text)
    }
}

/// One finding of one reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarrierFinding {
    /// The provider's id (`twilio`).
    pub provider: String,
    pub code: CarrierFindingCode,
    /// E.164.
    pub phone_number: String,
    /// The workspace and record the number is in here; none for `unknown_at_carrier`.
    pub number: Option<(WorkspaceId, PhoneNumberId)>,
    /// For `carrier_drift`: where the carrier sends the calls instead (empty when nowhere).
    pub detail: String,
    pub found_at: Timestamp,
}

#[async_trait]
pub trait CarrierStore: Send + Sync {
    /// Every active number of `provider`, in every workspace (what a reconcile compares).
    async fn numbers_of_provider(&self, provider: &str) -> Result<Vec<PhoneNumber>, StoreError>;
    /// Replaces what the last reconcile with `provider` found, in one transaction.
    async fn replace_carrier_findings(
        &self,
        provider: &str,
        findings: Vec<CarrierFinding>,
    ) -> Result<(), StoreError>;
    /// The findings about the workspace's numbers that are still here, by number.
    async fn carrier_findings(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<CarrierFinding>, StoreError>;
}
