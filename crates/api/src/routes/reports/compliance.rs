//! Compliance review: what needs attention on each number, with the fix in each sentence.

use super::*;

/// What a finding is about. Codes are stable: scripts may match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    /// The number's country is not among the workspace's enabled countries.
    CountryNotEnabled,
    /// The number's country needs KYC and the workspace is not verified.
    KycRequired,
    /// Active, costing money, and routed to no inbound agent.
    Unrouted,
    /// Routed to an agent, but without the `voice` capability.
    VoiceMissing,
    /// Pending for longer than the purchase sweep allows.
    StuckPending,
    /// Imported from a provider Switchboard cannot release.
    UnmanagedProvider,
    /// Routes calls (as its inbound agent or in its routing policy) to an agent that has no
    /// destination, so cannot take them.
    NoDestination,
    /// Active, costing money, held for 30 days and not called in them: a release candidate.
    NoRecentCalls,
    /// Calls to it in the last 7 days found no working route.
    UnroutableCalls,
    /// Its carrier sends its calls somewhere other than Switchboard (found by the last
    /// reconcile).
    CarrierDrift,
    /// Active here, no longer held at its carrier (found by the last reconcile).
    MissingAtCarrier,
}

impl FindingCode {
    pub const ALL: [FindingCode; 11] = [
        FindingCode::CountryNotEnabled,
        FindingCode::KycRequired,
        FindingCode::Unrouted,
        FindingCode::VoiceMissing,
        FindingCode::StuckPending,
        FindingCode::UnmanagedProvider,
        FindingCode::NoDestination,
        FindingCode::NoRecentCalls,
        FindingCode::UnroutableCalls,
        FindingCode::CarrierDrift,
        FindingCode::MissingAtCarrier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::CountryNotEnabled => "country_not_enabled",
            FindingCode::KycRequired => "kyc_required",
            FindingCode::Unrouted => "unrouted",
            FindingCode::VoiceMissing => "voice_missing",
            FindingCode::StuckPending => "stuck_pending",
            FindingCode::UnmanagedProvider => "unmanaged_provider",
            FindingCode::NoDestination => "no_destination",
            FindingCode::NoRecentCalls => "no_recent_calls",
            FindingCode::UnroutableCalls => "unroutable_calls",
            FindingCode::CarrierDrift => "carrier_drift",
            FindingCode::MissingAtCarrier => "missing_at_carrier",
        }
    }

    fn severity(self) -> Severity {
        match self {
            FindingCode::CountryNotEnabled | FindingCode::KycRequired => Severity::Error,
            FindingCode::VoiceMissing | FindingCode::NoDestination => Severity::Error,
            FindingCode::UnroutableCalls => Severity::Error,
            FindingCode::CarrierDrift | FindingCode::MissingAtCarrier => Severity::Error,
            FindingCode::Unrouted | FindingCode::StuckPending => Severity::Warning,
            FindingCode::NoRecentCalls => Severity::Warning,
            FindingCode::UnmanagedProvider => Severity::Info,
        }
    }
}

/// `error`: the number breaks a rule of the workspace or cannot work as routed; `warning`:
/// money spent for nothing, or something stuck; `info`: worth knowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One finding about one number.
#[derive(Debug, Serialize, ToSchema)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    #[schema(example = "phn_4k2m9x7q1z3b")]
    pub phone_number_id: String,
    #[schema(example = "+912234567890")]
    pub phone_number: String,
    #[schema(
        example = "+912234567890 is in IN, which needs a KYC-verified workspace; this one is not verified."
    )]
    pub message: String,
}

/// Every finding, and how many of each code. Streamed in this order as the numbers are read,
/// so the counts come last. (For the document: the handler writes it piece by piece.)
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documents the streamed answer")]
pub struct ComplianceReview {
    /// Findings in the numbers' order (oldest number first), then by code.
    findings: Vec<Finding>,
    /// Findings per code, every asked code present (0 when none).
    #[schema(value_type = Object, example = json!({"carrier_drift": 0, "country_not_enabled": 0, "kyc_required": 1, "missing_at_carrier": 0, "no_destination": 1, "no_recent_calls": 1, "stuck_pending": 0, "unmanaged_provider": 1, "unroutable_calls": 0, "unrouted": 2, "voice_missing": 0}))]
    counts: BTreeMap<&'static str, u64>,
    /// How many numbers were reviewed.
    numbers_reviewed: u64,
}

/// What the rules are judged against: the workspace as it is now.
#[derive(Debug)]
pub struct ReviewContext {
    pub enabled_countries: Vec<String>,
    pub kyc_verified: bool,
    /// Countries whose rules ask for KYC.
    pub kyc_countries: Vec<String>,
    /// Providers whose numbers Switchboard releases itself (`sip_trunk` among them).
    pub managed_providers: Vec<String>,
    /// A `pending` number created before this is stuck.
    pub stuck_before: Timestamp,
    /// The workspace's agents that have no destination, with their names.
    pub agents_without_destination: HashMap<AgentId, String>,
    /// Numbers called in the last [`QUIET_DAYS`] days, with their calls.
    pub call_activity: HashMap<PhoneNumberId, NumberCallActivity>,
    /// A number held since before this and not called since is `no_recent_calls`.
    pub quiet_since: Timestamp,
    /// What the last reconcile with each carrier found, by number: the code and its sentence.
    pub carrier_findings: HashMap<PhoneNumberId, Vec<(FindingCode, String)>>,
}

/// A paid number not called for this many days is a release candidate.
pub const QUIET_DAYS: i64 = 30;
/// Unroutable calls are reported over this many days.
pub const UNROUTABLE_DAYS: i64 = 7;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The findings about one number, in code order.
pub fn review(number: &PhoneNumber, context: &ReviewContext) -> Vec<Finding> {
    let n = &number.phone_number;
    let country = &number.country_code;
    let mut found = Vec::new();
    if !context.enabled_countries.contains(country) {
        found.push((
            FindingCode::CountryNotEnabled,
            format!("{n} is in {country}, which is not enabled for this workspace; enable the country or release the number."),
        ));
    }
    if !context.kyc_verified && context.kyc_countries.contains(country) {
        found.push((
            FindingCode::KycRequired,
            format!("{n} is in {country}, which needs a KYC-verified workspace; this one is not verified."),
        ));
    }
    let routed = number.inbound_agent_id.is_some() || number.outbound_agent_id.is_some();
    if number.status == NumberStatus::Active
        && number.monthly_cost.cents() > 0
        && number.inbound_agent_id.is_none()
    {
        found.push((
            FindingCode::Unrouted,
            format!(
                "{n} costs {} USD a month and no agent answers it; route it to an agent or release it.",
                number.monthly_cost
            ),
        ));
    }
    if routed && !number.capabilities.voice {
        found.push((
            FindingCode::VoiceMissing,
            format!("{n} is routed to an agent but cannot carry voice calls."),
        ));
    }
    if number.status == NumberStatus::Pending && number.created_at < context.stuck_before {
        found.push((
            FindingCode::StuckPending,
            format!("{n} has been pending since {}: its provider has not completed the order yet (a Telnyx order can wait for it), or the purchase sweep cannot settle it — check the server's logs.", number.created_at),
        ));
    }
    let mut routed_to: Vec<&AgentId> = number.inbound_agent_id.iter().collect();
    if let Some(policy) = &number.routing {
        routed_to.extend(policy.agents().into_iter().map(|(_, agent)| agent));
    }
    let mut stranded: Vec<String> = Vec::new();
    for agent in routed_to {
        if let Some(name) = context.agents_without_destination.get(agent) {
            let named = format!("{name} ({agent})");
            if !stranded.contains(&named) {
                stranded.push(named);
            }
        }
    }
    if !stranded.is_empty() {
        found.push((
            FindingCode::NoDestination,
            format!("{n} routes calls to {}, which cannot take them: give the agent a destination (sip:, wss:// or tel:).", stranded.join(", ")),
        ));
    }
    let activity = context.call_activity.get(&number.id);
    if number.status == NumberStatus::Active
        && number.monthly_cost.cents() > 0
        && number.created_at < context.quiet_since
        && activity.is_none()
    {
        found.push((
            FindingCode::NoRecentCalls,
            format!(
                "{n} has had no call in {QUIET_DAYS} days; releasing it saves {} USD a month.",
                number.monthly_cost
            ),
        ));
    }
    if let Some(calls) = activity.map(|a| a.unroutable_calls).filter(|c| *c > 0) {
        found.push((
            FindingCode::UnroutableCalls,
            format!(
                "{calls} call{} to {n} in the last {UNROUTABLE_DAYS} days found no working route: the callers heard the apology; check the number's route (GET …/route).",
                if calls == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some(carrier_findings) = context.carrier_findings.get(&number.id) {
        found.extend(carrier_findings.iter().cloned());
    }
    if !context.managed_providers.contains(&number.provider) {
        found.push((
            FindingCode::UnmanagedProvider,
            format!("{n} comes from {}, which Switchboard does not manage: releasing it here does not stop that provider's bill.", number.provider),
        ));
    }
    found
        .into_iter()
        .map(|(code, message)| Finding {
            code,
            severity: code.severity(),
            phone_number_id: number.id.to_string(),
            phone_number: n.clone(),
            message,
        })
        .collect()
}

/// Which findings to report.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct ComplianceQuery {
    /// Comma-separated codes to report; every code when absent.
    #[param(example = "kyc_required,unrouted")]
    code: Option<String>,
}

/// Review compliance (ext).
///
/// Checks every number of the workspace against its rules and routing: country not enabled,
/// KYC required, unrouted but paid for, routed without voice, stuck pending, from a provider
/// Switchboard cannot release, routed to an agent without a destination, paid for and not
/// called in 30 days, calls in the last 7 days that found no working route — and what the
/// last reconcile with its carrier found: calls sent elsewhere, gone at the carrier. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/compliance",
    operation_id = "reviewCompliance",
    tag = "Reports",
    params(ComplianceQuery),
    responses(
        (status = 200, description = "The findings, streamed as the numbers are read.", body = ComplianceReview),
        (status = 400, description = "An unknown code.", body = ErrorResponse),
    )
)]
pub async fn review_compliance(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let wanted: Vec<FindingCode> = match query.get("code") {
        None => FindingCode::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|name| {
                FindingCode::ALL
                    .into_iter()
                    .find(|c| c.as_str() == name.trim())
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            FindingCode::ALL.iter().map(|c| c.as_str()).collect();
                        ApiError::bad_request(format!(
                            "code must be a comma-separated list of: {}",
                            names.join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let workspace = state
        .store
        .get_workspace(&caller.workspace_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's workspace is gone".into()))?;
    let kyc_countries = state
        .store
        .countries()
        .await?
        .into_iter()
        .filter(|c| c.requires_kyc)
        .map(|c| c.country_iso)
        .collect();
    let mut managed_providers: Vec<String> = state
        .providers
        .ids()
        .into_iter()
        .map(str::to_owned)
        .collect();
    managed_providers.push("sip_trunk".into());
    let stuck_age = i64::try_from(crate::claims::STALE_CLAIM_AGE.as_millis()).unwrap_or(i64::MAX);
    let mut agents_without_destination = HashMap::new();
    for page in 1.. {
        let request = PageRequest { page, limit: 1000 };
        let (agents, total) = state
            .store
            .list_agents(&caller.workspace_id, request)
            .await?;
        let done = agents.is_empty() || request.offset() + agents.len() as u64 >= total;
        for agent in agents.into_iter().filter(|a| a.destination.is_none()) {
            agents_without_destination.insert(agent.id, agent.name);
        }
        if done {
            break;
        }
    }
    let now = Timestamp::now().as_millis();
    let quiet_since = Timestamp::from_millis(now - QUIET_DAYS * DAY_MS);
    let call_activity = state
        .store
        .call_activity(
            &caller.workspace_id,
            quiet_since,
            Timestamp::from_millis(now - UNROUTABLE_DAYS * DAY_MS),
        )
        .await?
        .into_iter()
        .map(|a| (a.phone_number_id.clone(), a))
        .collect();
    let mut carrier_findings: HashMap<PhoneNumberId, Vec<(FindingCode, String)>> = HashMap::new();
    for finding in state.store.carrier_findings(&caller.workspace_id).await? {
        let code = match finding.code {
            CarrierFindingCode::CarrierDrift => FindingCode::CarrierDrift,
            CarrierFindingCode::MissingAtCarrier => FindingCode::MissingAtCarrier,
            // Not about a number of this workspace.
            CarrierFindingCode::UnknownAtCarrier => continue,
        };
        let voice_url = state
            .providers
            .get(&finding.provider)
            .and_then(|p| p.voice_urls())
            .map(|urls| urls.voice_url.clone());
        let message = crate::reconcile::describe(&finding, voice_url.as_deref());
        if let Some((_, id)) = finding.number {
            carrier_findings
                .entry(id)
                .or_default()
                .push((code, message));
        }
    }
    let context = ReviewContext {
        carrier_findings,
        enabled_countries: workspace.enabled_countries,
        kyc_verified: workspace.kyc_verified,
        kyc_countries,
        managed_providers,
        stuck_before: Timestamp::from_millis(Timestamp::now().as_millis() - stuck_age),
        agents_without_destination,
        call_activity,
        quiet_since,
    };
    let numbers = state
        .store
        .stream_phone_numbers(&caller.workspace_id, &Default::default());
    let mut response = (StatusCode::OK, review_body(numbers, context, wanted)).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Ok(response)
}

/// The review's JSON, written as the numbers are read: memory stays flat however many
/// numbers and findings there are. A database error mid-way cuts the body off (the JSON is
/// then incomplete, never a short review that parses).
fn review_body(numbers: NumberStream, context: ReviewContext, wanted: Vec<FindingCode>) -> Body {
    struct Review {
        numbers: NumberStream,
        context: ReviewContext,
        counts: BTreeMap<&'static str, u64>,
        reviewed: u64,
        first: bool,
    }
    let state = Review {
        numbers,
        context,
        counts: wanted.iter().map(|c| (c.as_str(), 0)).collect(),
        reviewed: 0,
        first: true,
    };
    let findings = futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let mut chunk = Vec::new();
        for _ in 0..LINES_PER_CHUNK {
            let number = match state.numbers.recv().await {
                Some(Ok(number)) => number,
                Some(Err(error)) => {
                    tracing::error!(%error, "compliance review stopped by a database error");
                    return Some((Err(std::io::Error::other(error)), None));
                }
                None => {
                    // The end: close the list, then the counts and the total.
                    chunk.extend_from_slice(b"],\"counts\":");
                    chunk.extend(serde_json::to_vec(&state.counts).unwrap_or_default());
                    chunk.extend_from_slice(
                        format!(",\"numbers_reviewed\":{}}}", state.reviewed).as_bytes(),
                    );
                    return Some((Ok(Bytes::from(chunk)), None));
                }
            };
            state.reviewed += 1;
            for finding in review(&number, &state.context) {
                if let Some(count) = state.counts.get_mut(finding.code.as_str()) {
                    *count += 1;
                    if !std::mem::take(&mut state.first) {
                        chunk.push(b',');
                    }
                    chunk.extend(serde_json::to_vec(&finding).unwrap_or_default());
                }
            }
        }
        Some((Ok(Bytes::from(chunk)), Some(state)))
    });
    let head = futures_util::stream::once(async { Ok(Bytes::from_static(b"{\"findings\":[")) });
    Body::from_stream(futures_util::StreamExt::chain(head, findings))
}

// ---- Export ----
