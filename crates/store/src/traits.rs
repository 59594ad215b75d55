//! What a backend implements, one trait per part of the data; [`Store`] is all of them, and
//! what the rest of the code holds (`Arc<dyn Store>`: its methods need no import).

use crate::calls::CallStore;
use crate::carriers::CarrierStore;
use crate::users::UserStore;
use crate::*;
use async_trait::async_trait;

/// Workspaces, API keys, the catalogue (countries, pricing) and the sealing key's stamp.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// How many pooled connections are busy, and the most there can be.
    fn pool_usage(&self) -> Option<PoolUsage>;

    async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, StoreError>;

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError>;

    async fn count_workspaces(&self) -> Result<u64, StoreError>;

    /// Every workspace, oldest first.
    async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError>;

    /// `None` when the workspace does not exist.
    /// Records `workspace.updated` (when anything changed) in the same transaction.
    async fn update_workspace(
        &self,
        id: &WorkspaceId,
        update: WorkspaceUpdate,
        actor: &Actor,
    ) -> Result<Option<Workspace>, StoreError>;

    /// Fails with `NotFound` when the workspace does not exist.
    async fn create_api_key(&self, key: NewApiKey) -> Result<(), StoreError>;

    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// The workspace's keys that are not revoked, oldest first.
    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<ApiKeySummary>, StoreError>;

    /// Revokes a key of the workspace; `false` when there is no such live key.
    async fn revoke_api_key(
        &self,
        workspace: &WorkspaceId,
        id: &ApiKeyId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// Records that the key was used at `at`.
    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError>;

    async fn countries(&self) -> Result<Vec<CountryRule>, StoreError>;

    async fn pricing(&self) -> Result<Vec<Price>, StoreError>;

    /// Records which key seals this database's secrets, unless one is recorded already;
    /// returns the recorded id (this one, or the earlier one).
    async fn record_sealing_key_id(&self, key_id: &str) -> Result<String, StoreError>;

    /// The id of the key recorded by [`Store::record_sealing_key_id`], if any.
    async fn sealing_key_id(&self) -> Result<Option<String>, StoreError>;

    /// One stored secret sealed with the sealing key (a SIP trunk password or a webhook signing
    /// secret), if there is any: what a key can be tried on when the database recorded no key id.
    async fn sample_sealed_secret(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Agents, and detaching them from numbers when they go.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Fails with `NotFound` when the workspace does not exist.
    async fn create_agent(
        &self,
        workspace: &WorkspaceId,
        new: NewAgent,
        actor: &Actor,
    ) -> Result<Agent, StoreError>;

    async fn list_agents(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<(Vec<Agent>, u64), StoreError>;

    async fn get_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError>;

    /// Renames it and/or sets or clears its destination; `None` when there is no such agent.
    async fn update_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        update: AgentUpdate,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError>;

    /// Deletes the agent and, in the same transaction, detaches it from every number that
    /// routes to it (its agent fields, and the targets of its routing policy, see
    /// `RoutingPolicy::without_agent`). `false` when there is no such agent.
    async fn delete_agent(
        &self,
        workspace: &WorkspaceId,
        id: &AgentId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
}

/// The workspace's change feed.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// The workspace's events, newest first, for an auditor.
    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError>;

    /// Up to `limit` of the workspace's events after `after`, in feed order, for a program
    /// that keeps a copy in sync: resuming after the last one returned never misses an
    /// event and never returns one twice, whatever commits concurrently.
    async fn events_after(
        &self,
        workspace: &WorkspaceId,
        after: EventCursor,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
}

/// The workspace's numbers: read, list, summarise, stream, change, release, and their history.
#[async_trait]
pub trait NumberStore: Send + Sync {
    async fn get_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<Option<PhoneNumber>, StoreError>;

    /// The workspace's numbers that match `filter`, ordered by creation time then id, and the
    /// number of all matches.
    async fn list_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        page: PageRequest,
    ) -> Result<(Vec<PhoneNumber>, u64), StoreError>;

    /// Count and monthly cost of the workspace's numbers that match `filter`, grouped by
    /// `group_by` (in that order; one group of everything when empty). Groups are ordered by
    /// their values, a missing value last.
    /// With `period`, each group also counts its numbers' calls in it.
    async fn summarize_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        filter: &NumberFilter,
        group_by: &[NumberGroup],
        period: Option<&CallPeriod>,
    ) -> Result<Vec<NumberGroupTotals>, StoreError>;

    /// Every number of the workspace that matches `filter`, oldest first, sent as it is
    /// read: memory stays flat whatever the workspace's size, and dropping the receiver stops
    /// the query. An error ends the stream.
    fn stream_phone_numbers(&self, workspace: &WorkspaceId, filter: &NumberFilter) -> NumberStream;

    /// The workspace's number `number` (E.164), if it holds it.
    async fn find_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: &E164,
    ) -> Result<Option<PhoneNumber>, StoreError>;

    /// Applies a partial update in one transaction, with its history entry, and returns the new
    /// record. With `expected_revision`, fails with `Changed` unless the number is still at it.
    async fn update_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        patch: PhoneNumberPatch,
        expected_revision: Option<i64>,
        actor: &Actor,
    ) -> Result<PhoneNumber, PatchError>;

    /// Applies one partial update to each of `ids` (distinct) in one transaction, each with
    /// its history entry and event exactly as [`NumberStore::update_phone_number`] would, and
    /// returns every number before and after, in `ids` order. All or nothing: an id the
    /// workspace does not hold fails with `MissingNumber`, and any failure changes nothing.
    /// With `dry_run` the transaction is rolled back once done: the answer is what would
    /// change, and nothing does.
    async fn update_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        ids: &[PhoneNumberId],
        patch: PhoneNumberPatch,
        dry_run: bool,
        actor: &Actor,
    ) -> Result<Vec<(PhoneNumber, PhoneNumber)>, PatchError>;

    /// Removes a number released at its provider (and its SIP trunk credentials, and its
    /// release claim), with its history entry. The caller holds the release claim
    /// ([`Store::begin_release`]), so the number is removed whatever changed meanwhile.
    /// `false` when there is no such number.
    async fn delete_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// Claims the release of a number, so that exactly one request, on any replica, gives
    /// it back to its provider. The claim is checked against `expected_revision` and the
    /// default flag in the same transaction. A claim started before `stale_before` was left
    /// by a process that died, and is taken over.
    async fn begin_release(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        expected_revision: Option<i64>,
        stale_before: Timestamp,
    ) -> Result<ReleaseClaim, StoreError>;

    /// Gives up a release claim (the provider refused); the number stays as it was.
    async fn abandon_release(&self, id: &PhoneNumberId) -> Result<(), StoreError>;

    /// A number's history, newest first; entries outlive the number. Empty for an id this
    /// workspace never had.
    async fn phone_number_history(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        page: PageRequest,
    ) -> Result<(Vec<HistoryEntry>, u64), StoreError>;
}

/// Numbers arriving: purchase claims, activation, SIP-trunk links, imports, and idempotency keys.
#[async_trait]
pub trait PurchaseStore: Send + Sync {
    /// Claims a number for a purchase in flight: a `pending` record, no history yet.
    /// `Conflict` when any workspace already holds the number: the unique constraint decides
    /// between concurrent buyers.
    async fn claim_phone_number(
        &self,
        workspace: &WorkspaceId,
        number: NewPhoneNumber,
    ) -> Result<PhoneNumber, StoreError>;

    /// Claims of every workspace still `pending` since before `older_than`: purchases whose
    /// process died between claiming and storing the sale.
    async fn stale_claims(&self, older_than: Timestamp) -> Result<Vec<PhoneNumber>, StoreError>;

    /// Drops a purchase's claim that did not become a sale (only while `pending`).
    async fn drop_claim(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
    ) -> Result<(), StoreError>;

    /// Records on a claim what the number will be when the provider completes its order (type,
    /// monthly cost, capabilities); it stays `pending`, with no history yet (the purchase is
    /// recorded when the order completes). `NotFound` when the claim is gone.
    async fn record_order_terms(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        terms: NewPhoneNumber,
    ) -> Result<(), StoreError>;

    /// Turns a claim into the bought number, with its `purchased` history entry.
    /// `NotFound` when the claim is gone.
    async fn activate_phone_number(
        &self,
        workspace: &WorkspaceId,
        id: &PhoneNumberId,
        bought: NewPhoneNumber,
        actor: &Actor,
    ) -> Result<PhoneNumber, StoreError>;

    /// Records a bring-your-own number with its SIP trunk, and its `linked` history entry.
    /// `Conflict` when any workspace already holds the number.
    async fn link_sip_trunk_number(
        &self,
        workspace: &WorkspaceId,
        number: NewPhoneNumber,
        sip_trunk: NewSipTrunk,
        actor: &Actor,
    ) -> Result<PhoneNumber, StoreError>;

    /// Of `numbers`, those any workspace already holds.
    async fn registered_numbers(&self, numbers: &[E164]) -> Result<Vec<E164>, StoreError>;

    /// Records all of `numbers` for the workspace in one transaction, or none of them.
    /// Returns the new ids in input order. `Conflict` names a number someone already holds;
    /// `NotFound` an unknown workspace or agent.
    async fn import_phone_numbers(
        &self,
        workspace: &WorkspaceId,
        numbers: Vec<NewPhoneNumber>,
        actor: &Actor,
    ) -> Result<Vec<PhoneNumberId>, StoreError>;

    /// Claims `key` for a request with digest `request_sha256`, or says what became of the
    /// request that claimed it first. Claims older than 24 hours are forgotten.
    async fn claim_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        request_sha256: [u8; 32],
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Stores the response of the request that claimed `key`, for replays.
    async fn complete_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// Gives up a claim (the request failed in a way a retry may fix).
    async fn release_idempotency_key(
        &self,
        workspace: &WorkspaceId,
        key: &str,
    ) -> Result<(), StoreError>;
}

/// Everything a backend stores: the API and the command line hold an `Arc<dyn Store>`.
pub trait Store:
    WorkspaceStore
    + AgentStore
    + EventStore
    + NumberStore
    + PurchaseStore
    + WebhookStore
    + CallStore
    + CarrierStore
    + UserStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
}

impl<T> Store for T where
    T: WorkspaceStore
        + AgentStore
        + EventStore
        + NumberStore
        + PurchaseStore
        + WebhookStore
        + CallStore
        + CarrierStore
        + UserStore
        + Send
        + Sync
        + std::fmt::Debug
        + 'static
{
}
