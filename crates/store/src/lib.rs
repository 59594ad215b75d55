//! The storage trait: use-case methods that every backend (SQLite, later PostgreSQL) implements.
//!
//! Every method that reads or changes a tenant's records takes the workspace id, so no caller
//! can forget the tenant filter: a record of another workspace is simply not found.
#![forbid(unsafe_code)]

use async_trait::async_trait;
use switchboard_domain::{
    AgentId, ApiKeyId, Capabilities, E164, Money, NumberStatus, NumberType, PhoneNumber,
    PhoneNumberId, Scopes, SecretDigest, Timestamp, WorkspaceId,
};

/// The schema version this build of Switchboard reads and writes. Every backend's migrations
/// carry the same version stamps.
pub const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken, e.g. a phone number that another record already holds.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A record the operation depends on does not exist (e.g. an unknown workspace).
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached or has no free connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's schema is not the one this build expects.
    #[error("{0}")]
    Schema(String),
    /// Anything else; the source says what.
    #[error("database error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// ISO 3166-1 alpha-2 codes, sorted.
    pub enabled_countries: Vec<String>,
    pub kyc_verified: bool,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewWorkspace {
    pub name: String,
    pub enabled_countries: Vec<String>,
    pub kyc_verified: bool,
}

#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub secret_digest: SecretDigest,
    pub scopes: Scopes,
    pub expires_at: Option<Timestamp>,
}

/// What authentication needs to know about a key.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub secret_digest: SecretDigest,
    pub scopes: Scopes,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    /// Usable now: neither revoked nor past its expiry.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub id: AgentId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A number to record for a workspace, already validated.
#[derive(Clone, Debug)]
pub struct NewPhoneNumber {
    pub number: E164,
    pub number_type: NumberType,
    pub monthly_cost: Money,
    pub capabilities: Capabilities,
    pub label: Option<String>,
    pub nickname: Option<String>,
    pub inbound_agent_id: Option<AgentId>,
    pub status: NumberStatus,
    pub provider: String,
    pub sip_trunk_enabled: bool,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, StoreError>;
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError>;
    async fn count_workspaces(&self) -> Result<u64, StoreError>;

    /// Fails with `NotFound` when the workspace does not exist.
    async fn create_api_key(&self, key: NewApiKey) -> Result<(), StoreError>;
    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Fails with `NotFound` when the workspace does not exist.
    async fn create_agent(&self, workspace: &WorkspaceId, name: &str) -> Result<Agent, StoreError>;

    async fn get_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, StoreError>;

    /// Of `numbers`, those any workspace already holds.
    async fn registered_numbers(&self, numbers: &[E164]) -> Result<Vec<E164>, StoreError>;

    /// Records all of `numbers` for the workspace in one transaction, or none of them.
    /// Returns the new ids in input order. `Conflict` names a number someone already holds;
    /// `NotFound` an unknown workspace or agent.
    async fn import_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        numbers: Vec<NewPhoneNumber>,
    ) -> Result<Vec<PhoneNumberId>, StoreError>;
}

/// A key that was just created: the only moment its full token exists.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub id: ApiKeyId,
    pub scopes: Scopes,
    /// `<key_id>:<secret>`, to hand to the user once. Never logged.
    pub token: switchboard_domain::RevealedToken,
}

/// Creates a key for `workspace` with a fresh secret and stores only its digest.
pub async fn issue_api_key(
    store: &dyn Store,
    workspace: &WorkspaceId,
    name: &str,
    scopes: Scopes,
) -> Result<IssuedApiKey, StoreError> {
    let id = ApiKeyId::generate();
    let secret = switchboard_domain::ApiKeySecret::generate();
    store
        .create_api_key(NewApiKey {
            id: id.clone(),
            workspace_id: workspace.clone(),
            name: name.to_owned(),
            secret_digest: secret.digest(),
            scopes,
            expires_at: None,
        })
        .await?;
    Ok(IssuedApiKey {
        token: secret.token(&id),
        id,
        scopes,
    })
}
