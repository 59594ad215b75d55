//! The storage trait: use-case methods that every backend (SQLite, later PostgreSQL) implements.
//!
//! Every method that reads or changes a tenant's records takes the workspace id, so no caller
//! can forget the tenant filter: a record of another workspace is simply not found.
#![forbid(unsafe_code)]

use switchboard_domain::{
    AgentId, ApiKeyId, Capabilities, Destination, E164, Money, NumberStatus, NumberType,
    PhoneNumber, PhoneNumberId, RoutingPolicy, Scopes, SecretDigest, Timestamp, WorkspaceId,
};

/// The schema version this build of Switchboard reads and writes. Every backend's migrations
/// carry the same version stamps.
pub const SCHEMA_VERSION: i64 = 11;

/// What `migrate` did: the schema version before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from_version: i64,
    pub to_version: i64,
}

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
    /// A documented limit would be passed (e.g. live keys per workspace); the message says
    /// which and what to do.
    #[error("{0}")]
    Limit(String),
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
    /// Rotation: in the same transaction, every other live key of the workspace whose scopes
    /// are within `expire_others_within` expires at this time (unless it already expires
    /// sooner).
    pub expire_others_at: Option<Timestamp>,
    /// The creator's scopes: a key may expire only keys that can do no more than it can.
    pub expire_others_within: Scopes,
    /// Who creates it, for the workspace's events.
    pub actor: Actor,
}

/// An SQL condition (SQLite and PostgreSQL alike) that holds for the rows whose `column` of
/// canonical scope lists (`Scopes::to_list`) names only scopes of `within`. Scope names are
/// constants of this build, never input, and none is a part of another.
pub fn scopes_within_sql(column: &str, within: Scopes) -> String {
    let mut condition = String::from("TRUE");
    for scope in Scopes::all().iter().filter(|s| !within.contains(*s)) {
        condition.push_str(&format!(
            " AND (',' || {column} || ',') NOT LIKE '%,{},%'",
            scope.as_str()
        ));
    }
    condition
}

/// A key as its owner may see it: never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeySummary {
    pub id: ApiKeyId,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// Changes to a workspace's settings; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct WorkspaceUpdate {
    pub enabled_countries: Option<Vec<String>>,
    pub kyc_verified: Option<bool>,
}

/// A country numbers can be bought in (DialNexa's "country rule").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryRule {
    pub id: String,
    pub country_iso: String,
    pub country_name: String,
    pub calling_code: String,
    pub max_length: Option<i64>,
    pub prefixes: Vec<String>,
    pub requires_kyc: bool,
}

/// A provider's price for a country and number type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub provider: String,
    pub country_iso: String,
    pub country_name: String,
    pub number_type: NumberType,
    pub monthly: Money,
    pub setup: Money,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters of the number list; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct NumberFilter {
    pub country_code: Option<String>,
    pub number_type: Option<NumberType>,
    pub status: Option<NumberStatus>,
    pub provider: Option<String>,
    pub inbound_agent_id: Option<AgentId>,
    pub outbound_agent_id: Option<AgentId>,
    /// Substring of the number, nickname or label.
    pub query: Option<String>,
}

/// Numbers as a backend reads them, for exports and reviews of a whole workspace.
pub type NumberStream = tokio::sync::mpsc::Receiver<Result<PhoneNumber, StoreError>>;

/// How many numbers a stream reads ahead of its consumer.
pub const STREAM_BUFFER: usize = 256;

/// A field a summary can group numbers by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberGroup {
    CountryCode,
    Type,
    Provider,
    Status,
    Label,
    InboundAgent,
}

impl NumberGroup {
    pub const ALL: [NumberGroup; 6] = [
        NumberGroup::CountryCode,
        NumberGroup::Type,
        NumberGroup::Provider,
        NumberGroup::Status,
        NumberGroup::Label,
        NumberGroup::InboundAgent,
    ];

    /// Its name in `group_by` and in answers, which is also its column.
    pub fn name(self) -> &'static str {
        match self {
            NumberGroup::CountryCode => "country_code",
            NumberGroup::Type => "type",
            NumberGroup::Provider => "provider",
            NumberGroup::Status => "status",
            NumberGroup::Label => "label",
            NumberGroup::InboundAgent => "inbound_agent_id",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// The calls a summary counts: those of the workspace that started in `[since, until)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallPeriod {
    pub workspace: WorkspaceId,
    pub since: Timestamp,
    pub until: Timestamp,
}

/// The calls of one summary group in the period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTotals {
    pub calls: u64,
    /// Calls a target took (`completed`).
    pub answered: u64,
    /// Their seconds, as the carriers reported.
    pub answered_seconds: u64,
}

/// The summary query over the numbers that `where_clause` selects (SQLite and PostgreSQL
/// alike): the grouped columns, `count`, the cost in cents, with a period the calls, answered
/// calls and answered seconds, and the agent's name when grouping by agent (last). Groups are
/// ordered by their values with a missing value last on both backends.
pub fn summary_sql(
    where_clause: &str,
    group_by: &[NumberGroup],
    period: Option<&CallPeriod>,
) -> String {
    let keys: Vec<String> = group_by.iter().map(|g| format!("p.{}", g.name())).collect();
    let by_agent = group_by.contains(&NumberGroup::InboundAgent);
    let mut select = keys.clone();
    select.push("count(*)".into());
    select.push("CAST(coalesce(sum(p.monthly_cost_cents), 0) AS BIGINT)".into());
    if period.is_some() {
        for column in ["calls", "answered", "seconds"] {
            select.push(format!("CAST(coalesce(sum(c.{column}), 0) AS BIGINT)"));
        }
    }
    if by_agent {
        select.push("a.name".into());
    }
    let mut sql = format!(
        "SELECT {} FROM (SELECT * FROM phone_numbers WHERE {where_clause}) p",
        select.join(", ")
    );
    if by_agent {
        sql.push_str(" LEFT JOIN agents a ON a.id = p.inbound_agent_id");
    }
    if let Some(period) = period {
        // Written into the statement: a workspace id is `ws_` and 12 of [0-9a-z], times are
        // integers, so neither can carry SQL; the number filter's placeholders stay the only
        // ones.
        sql.push_str(&format!(
            " LEFT JOIN (SELECT phone_number_id, count(*) AS calls, \
               sum(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END) AS answered, \
               sum(CASE WHEN outcome = 'completed' THEN coalesce(duration_secs, 0) ELSE 0 END) AS seconds \
             FROM calls WHERE workspace_id = '{}' AND started_at >= {} AND started_at < {} \
             GROUP BY phone_number_id) c ON c.phone_number_id = p.id",
            period.workspace.as_str(),
            period.since.as_millis(),
            period.until.as_millis()
        ));
    }
    if !keys.is_empty() {
        let mut grouped = keys.clone();
        if by_agent {
            grouped.push("a.name".into());
        }
        let order: Vec<String> = keys.iter().map(|k| format!("{k} IS NULL, {k}")).collect();
        sql.push_str(&format!(
            " GROUP BY {} ORDER BY {}",
            grouped.join(", "),
            order.join(", ")
        ));
    }
    sql
}

/// One group of a summary: its values of the grouped fields (in `group_by` order; `None` for
/// a number without one, e.g. routed to no agent), how many numbers, and what they cost a
/// month, summed in whole cents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberGroupTotals {
    pub keys: Vec<Option<String>>,
    /// The inbound agent's name, when grouping by agent.
    pub agent_name: Option<String>,
    pub count: u64,
    pub monthly_cost: Money,
    /// With a period: the calls to the group's numbers in it.
    pub calls: Option<CallTotals>,
}

/// One page of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u32,
    pub limit: u32,
}

impl PageRequest {
    pub fn offset(self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.limit)
    }
}

/// A change to one field: keep it, set it, or clear it (JSON `null`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FieldChange<T> {
    #[default]
    Keep,
    Set(T),
    Clear,
}

impl<T> FieldChange<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, FieldChange::Keep)
    }
}

/// A partial update of a number (PATCH).
#[derive(Clone, Debug, Default)]
pub struct PhoneNumberPatch {
    pub nickname: FieldChange<String>,
    pub label: FieldChange<String>,
    pub inbound_agent_id: FieldChange<AgentId>,
    pub outbound_agent_id: FieldChange<AgentId>,
    /// `Some(true)` makes it the default (clearing the previous one); `Some(false)` unsets it.
    pub is_default: Option<bool>,
    pub routing: FieldChange<RoutingPolicy>,
}

/// The fields of a number a PATCH can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditableFields {
    pub nickname: Option<String>,
    pub label: Option<String>,
    pub inbound_agent_id: Option<AgentId>,
    pub outbound_agent_id: Option<AgentId>,
    pub is_default: bool,
    pub routing: Option<RoutingPolicy>,
}

impl EditableFields {
    pub fn of(number: &PhoneNumber) -> Self {
        Self {
            nickname: number.nickname.clone(),
            label: number.label.clone(),
            inbound_agent_id: number.inbound_agent_id.clone(),
            outbound_agent_id: number.outbound_agent_id.clone(),
            is_default: number.is_default,
            routing: number.routing.clone(),
        }
    }
}

impl PhoneNumberPatch {
    /// Every agent the patch sets, with the field that names it: what must be an agent of
    /// the workspace, checked in the transaction that saves the patch.
    pub fn agents_named(&self) -> Vec<(String, &AgentId)> {
        let mut named = Vec::new();
        for (field, change) in [
            ("inbound_agent_id", &self.inbound_agent_id),
            ("outbound_agent_id", &self.outbound_agent_id),
        ] {
            if let FieldChange::Set(agent) = change {
                named.push((field.to_owned(), agent));
            }
        }
        if let FieldChange::Set(policy) = &self.routing {
            named.extend(policy.agents());
        }
        named
    }

    /// What `current`'s editable fields become under this patch; `None` when nothing would
    /// change (such a PATCH writes nothing: no revision, no history).
    pub fn apply_to(self, current: &PhoneNumber) -> Option<EditableFields> {
        fn resolve<T: Clone>(change: FieldChange<T>, current: &Option<T>) -> Option<T> {
            match change {
                FieldChange::Keep => current.clone(),
                FieldChange::Set(value) => Some(value),
                FieldChange::Clear => None,
            }
        }
        let next = EditableFields {
            nickname: resolve(self.nickname, &current.nickname),
            label: resolve(self.label, &current.label),
            inbound_agent_id: resolve(self.inbound_agent_id, &current.inbound_agent_id),
            outbound_agent_id: resolve(self.outbound_agent_id, &current.outbound_agent_id),
            is_default: self.is_default.unwrap_or(current.is_default),
            routing: resolve(self.routing, &current.routing),
        };
        (next != EditableFields::of(current)).then_some(next)
    }
}

/// Why a PATCH could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("phone number not found")]
    NumberNotFound,
    /// One of the numbers of a bulk update is not a number of the workspace.
    #[error("{0} is not a number of this workspace")]
    MissingNumber(PhoneNumberId),
    /// The number is no longer at the revision the caller expected.
    #[error("phone number changed since the expected revision")]
    Changed,
    /// The named field (`inbound_agent_id`, or a path in the routing policy such as
    /// `routing.rules[0].targets[1].agent_id`) holds an id that is not an agent of the workspace.
    #[error("{0} is not an agent of this workspace")]
    UnknownAgent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The credentials of a bring-your-own number.
#[derive(Clone, Debug)]
pub struct NewSipTrunk {
    pub termination_uri: String,
    pub auth_mode: SipAuthMode,
}

#[derive(Clone, PartialEq, Eq)]
pub enum SipAuthMode {
    /// Username and the sealed (encrypted) password.
    UserPass {
        username: String,
        password_sealed: Vec<u8>,
    },
    Ip,
}

impl std::fmt::Debug for SipAuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SipAuthMode::UserPass { username, .. } => f
                .debug_struct("UserPass")
                .field("username", username)
                .finish_non_exhaustive(),
            SipAuthMode::Ip => f.write_str("Ip"),
        }
    }
}

/// What a stored Idempotency-Key says about a new request carrying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new (or older than 24 hours): this request goes ahead and owns it.
    Claimed,
    /// The same request already got this response: send it again.
    Replay { status: u16, body: Vec<u8> },
    /// The first request with this key has not finished yet.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// What authentication needs to know about a key.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub name: String,
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
    /// How a call reaches it; an agent without one cannot take calls.
    pub destination: Option<Destination>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An agent to create, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgent {
    pub name: String,
    pub destination: Option<Destination>,
}

/// A partial update of an agent: `None` keeps its name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentUpdate {
    pub name: Option<String>,
    pub destination: FieldChange<Destination>,
}

impl AgentUpdate {
    /// `current` with this update applied (its `updated_at` left as it was).
    pub fn apply_to(self, current: &Agent) -> Agent {
        let mut next = current.clone();
        if let Some(name) = self.name {
            next.name = name;
        }
        match self.destination {
            FieldChange::Keep => {}
            FieldChange::Set(destination) => next.destination = Some(destination),
            FieldChange::Clear => next.destination = None,
        }
        next
    }
}

/// A stored routing policy (`phone_numbers.routing`, canonical JSON text) read back.
pub fn routing_from_column(text: Option<&str>) -> Result<Option<RoutingPolicy>, String> {
    let Some(text) = text else { return Ok(None) };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("routing policy is not JSON: {e}"))?;
    RoutingPolicy::from_json(&value)
        .map(Some)
        .map_err(|problems| format!("routing policy: {problems}"))
}

/// A routing policy as stored: canonical JSON text.
pub fn routing_column(policy: Option<&RoutingPolicy>) -> Option<String> {
    policy.map(|p| p.to_json().to_string())
}

/// A stored destination read back.
pub fn destination_from_column(text: Option<&str>) -> Result<Option<Destination>, String> {
    text.map(|t| Destination::parse(t).map_err(|e| format!("destination {t:?} {e}")))
        .transpose()
}

/// An SQL condition (SQLite and PostgreSQL alike) on `phone_numbers` for the numbers whose
/// routing policy may name the agent bound to `placeholder`: agent ids are fixed-form and
/// quoted in the canonical JSON, so the text test finds every one (and the caller reads the
/// policy to be sure).
pub fn routing_names_agent_sql(placeholder: &str) -> String {
    format!("routing LIKE '%\"' || {placeholder} || '\"%'")
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

/// Connections of a backend's pool, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: usize,
    pub max: usize,
}

/// What [`Store::begin_release`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseClaim {
    /// The caller, alone, now releases this number.
    Claimed(Box<PhoneNumber>),
    NotFound,
    /// The number is no longer at the revision the caller expected.
    Changed,
    /// The number is the workspace's default, which is never released.
    IsDefault,
    /// Another request is releasing it right now, or is still buying it.
    InProgress,
}

impl ReleaseClaim {
    /// Why `number` (read, and locked, in the claim's transaction) may not be claimed for
    /// release, if it may not: the rule both backends apply before they write the claim.
    pub fn refusal(number: &PhoneNumber, expected_revision: Option<i64>) -> Option<Self> {
        if number.status != switchboard_domain::NumberStatus::Active {
            // A purchase still in flight: it is not released until it is bought.
            Some(ReleaseClaim::InProgress)
        } else if expected_revision.is_some_and(|r| r != number.revision) {
            Some(ReleaseClaim::Changed)
        } else if number.is_default {
            Some(ReleaseClaim::IsDefault)
        } else {
            None
        }
    }
}

/// After this long a release claim belongs to a request that died with its process (a live
/// one is stopped by the request timeout, at most 5 minutes), and may be taken over.
pub const RELEASE_ABANDONED_MS: i64 = 10 * 60 * 1000;

mod calls;
mod carriers;
mod events;
mod history;
mod objects;
mod traits;
mod users;
mod webhooks;
pub use calls::{
    AttemptReport, Call, CallAttempt, CallFilter, CallRoute, CallStore, LIVE_ATTEMPT_MAX_MS,
    LiveCalls, NewCall, NextStep, NumberCallActivity, PlannedTarget, call_event_data,
    call_event_message_id, plan_column, plan_from_column,
};
pub use carriers::{CarrierFinding, CarrierFindingCode, CarrierStore};
pub use events::{
    CALL_EVENT_TYPES, EVENT_KINDS, EVENT_TYPES, Event, EventCursor, EventFilter, NewEvent,
    event_scope, hidden_event_kinds, is_webhook_event_type, readable_event_types,
};
pub use history::{Actor, HistoryAction, HistoryEntry, changes};
pub use objects::{CallAttemptObject, CallObject, CallRule, PhoneNumberObject, RoutingPolicyDoc};
pub use traits::{AgentStore, EventStore, NumberStore, PurchaseStore, Store, WorkspaceStore};
pub use users::{
    NewSession, NewUser, OidcLogin, PASSWORD_SETUP_LIFETIME_MS, PasswordSetup, Session, SessionEnd,
    SignInRecord, User, UserStore, UserUpdate, new_password_setup, password_setup_link,
};
pub use webhooks::{
    AttemptResult, DeliveryAttempt, DeliveryState, FinishedAttempt, InFlight,
    LEASE_CANDIDATES_PER_SLOT, LeasedDelivery, MAX_IN_FLIGHT_PER_ENDPOINT,
    MAX_IN_FLIGHT_PER_WORKSPACE, NewWebhookEndpoint, QueueStats, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointUpdate, WebhookStore, event_types_column, event_types_from_column, webhook_body,
};

/// How long an Idempotency-Key is remembered.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// After this long, a key still waiting for its response belongs to a request that died with
/// its process (or was cut off by the request timeout, at most 5 minutes) and is let go, so
/// the client's retry runs instead of being told "in progress" for a day.
pub const IDEMPOTENCY_ABANDONED_MS: i64 = 10 * 60 * 1000;

/// A key that was just created: the only moment its full token exists.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub id: ApiKeyId,
    pub scopes: Scopes,
    /// `<key_id>:<secret>`, to hand to the user once. Never logged.
    pub token: switchboard_domain::RevealedToken,
}

/// Most live (not revoked, not expired) API keys one workspace may hold: each key is a way in
/// to watch, and a workspace that needs more is sharing keys it should not.
pub const MAX_LIVE_KEYS_PER_WORKSPACE: i64 = 100;

/// The refusal when a workspace already holds [`MAX_LIVE_KEYS_PER_WORKSPACE`] live keys.
pub fn too_many_keys() -> StoreError {
    StoreError::Limit(format!(
        "this workspace holds {MAX_LIVE_KEYS_PER_WORKSPACE} live API keys, the most it may; revoke keys that are no longer used first"
    ))
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
            expire_others_at: None,
            expire_others_within: Scopes::default(),
            actor: Actor::cli(),
        })
        .await?;
    Ok(IssuedApiKey {
        token: secret.token(&id),
        id,
        scopes,
    })
}
