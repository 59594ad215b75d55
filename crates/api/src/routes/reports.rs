//! Reports over a workspace's numbers, each one call: cost attribution (summary), routing
//! audit (lookup by number), compliance review and export. The command line prints the same
//! summary and export through the functions here.

use crate::auth::Authenticated;
use crate::routes::phone_numbers::{
    NOT_FOUND, NumberFilterQuery, PhoneNumberObject, number_filter, number_response,
};
use axum::body::{Body, Bytes};
use axum::extract::{Query, RawQuery, State};
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use switchboard_domain::{E164, Money, NumberStatus, PhoneNumber, Scope, Timestamp};
use switchboard_server::AppState;
use switchboard_server::json::json_response;
use switchboard_server::{ApiError, ErrorResponse};
use switchboard_store::{NumberGroup, NumberGroupTotals, NumberStream};
use utoipa::{IntoParams, ToSchema};

// ---- Cost attribution ----

/// What a summary groups by.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct SummaryQuery {
    /// Comma-separated, in the order the groups nest: `country_code`, `type`, `provider`,
    /// `status`, `label`, `inbound_agent_id`.
    #[param(example = "country_code,inbound_agent_id")]
    group_by: Option<String>,
}

/// Count and monthly cost, in total and per group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// How many numbers match the filters.
    #[schema(example = 4)]
    pub count: u64,
    /// Their monthly cost in US dollars, summed exactly.
    #[schema(example = "7.65")]
    pub monthly_cost_usd: String,
    /// The fields grouped by, as asked.
    #[schema(example = json!(["country_code"]))]
    pub group_by: Vec<&'static str>,
    /// One entry per combination of the grouped fields' values; empty without `group_by`.
    pub groups: Vec<SummaryGroup>,
}

/// One group: the grouped fields' values (`null` for numbers without one: no label, routed to
/// no agent), with its count and cost. Only the grouped fields are present.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "US")]
    pub country_code: Option<Option<String>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub number_type: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub provider: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub label: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub inbound_agent_id: Option<Option<String>>,
    /// The agent's name, with `inbound_agent_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "Support")]
    pub inbound_agent_name: Option<Option<String>>,
    #[schema(example = 2)]
    pub count: u64,
    #[schema(example = "2.15")]
    pub monthly_cost_usd: String,
}

/// `group_by` as asked: known names, each once.
pub fn parse_group_by(text: Option<&str>) -> Result<Vec<NumberGroup>, String> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let names = || {
        NumberGroup::ALL
            .iter()
            .map(|g| g.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut groups = Vec::new();
    for name in text.split(',').map(str::trim) {
        let group = NumberGroup::parse(name)
            .ok_or_else(|| format!("group_by must be a comma-separated list of: {}", names()))?;
        if groups.contains(&group) {
            return Err(format!("group_by names {name} twice"));
        }
        groups.push(group);
    }
    Ok(groups)
}

/// The summary of `rows` as the store grouped them by `group_by`. Totals are added up in
/// whole cents, so no rounding ever creeps in.
pub fn summary(group_by: &[NumberGroup], rows: Vec<NumberGroupTotals>) -> Result<Summary, String> {
    let count = rows.iter().map(|r| r.count).sum();
    let cents = rows
        .iter()
        .try_fold(0i64, |sum, r| sum.checked_add(r.monthly_cost.cents()))
        .ok_or("the total monthly cost overflows")?;
    let total = Money::from_cents(cents).map_err(|e| e.to_string())?;
    let groups = if group_by.is_empty() {
        Vec::new()
    } else {
        rows.into_iter()
            .map(|row| {
                let mut group = SummaryGroup {
                    country_code: None,
                    number_type: None,
                    provider: None,
                    status: None,
                    label: None,
                    inbound_agent_id: None,
                    inbound_agent_name: None,
                    count: row.count,
                    monthly_cost_usd: row.monthly_cost.to_string(),
                };
                for (field, value) in group_by.iter().zip(row.keys) {
                    let slot = match field {
                        NumberGroup::CountryCode => &mut group.country_code,
                        NumberGroup::Type => &mut group.number_type,
                        NumberGroup::Provider => &mut group.provider,
                        NumberGroup::Status => &mut group.status,
                        NumberGroup::Label => &mut group.label,
                        NumberGroup::InboundAgent => &mut group.inbound_agent_id,
                    };
                    *slot = Some(value);
                }
                if group_by.contains(&NumberGroup::InboundAgent) {
                    group.inbound_agent_name = Some(row.agent_name);
                }
                group
            })
            .collect()
    };
    Ok(Summary {
        count,
        monthly_cost_usd: total.to_string(),
        group_by: group_by.iter().map(|g| g.name()).collect(),
        groups,
    })
}

/// Summarize phone numbers (ext).
///
/// How many numbers match the list's filters and what they cost a month, in total and
/// grouped by any of `country_code`, `type`, `provider`, `status`, `label` and
/// `inbound_agent_id`: telephony spend per country, per use case (label) or per agent.
/// Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/summary",
    operation_id = "summarizePhoneNumbers",
    tag = "Reports",
    params(NumberFilterQuery, SummaryQuery),
    responses(
        (status = 200, description = "The totals.", body = Summary),
        (status = 400, description = "A filter or `group_by` value is invalid.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "group_by must be a comma-separated list of: country_code, type, provider, status, label, inbound_agent_id", "error": "Bad Request"})),
    )
)]
pub async fn summarize_phone_numbers(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let mut problems = Vec::new();
    let filter = number_filter(&query, &mut problems);
    let group_by = parse_group_by(query.get("group_by").map(String::as_str))
        .map_err(|problem| problems.push(problem))
        .unwrap_or_default();
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let rows = match filter {
        Some(filter) => {
            state
                .store
                .summarize_phone_numbers(&caller.workspace_id, &filter, &group_by)
                .await?
        }
        None => Vec::new(),
    };
    let summary = summary(&group_by, rows).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(json_response(StatusCode::OK, &summary))
}

// ---- Routing audit: lookup by number ----

/// The number to look up.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct LookupQuery {
    /// In any form libphonenumber reads with its `+` (`+1 (415) 555-0100`); a `+` left
    /// unencoded in the query string is read as a `+`, not as a space.
    #[param(example = "+14155550100")]
    phone_number: String,
}

/// The value of `name` in a query string, percent-decoded, with a leading `+` kept as `+`:
/// phone numbers are written with a literal `+` far more often than with `%2B`.
fn query_value(raw: &str, name: &str) -> Option<String> {
    let value = raw
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)?
        .1;
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) if hex(high).is_some() && hex(low).is_some() => {
                decoded.push((hex(high)? * 16 + hex(low)?) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    // A phone number has a `+` only in front: any other `+` is a form-encoded space.
    let text = String::from_utf8_lossy(&decoded);
    let leading = text.len() - text.trim_start().len();
    Some(
        text.char_indices()
            .map(|(i, c)| if c == '+' && i != leading { ' ' } else { c })
            .collect(),
    )
}

/// Look up a phone number by number (ext).
///
/// The number object of this workspace's number, found by the number itself in any format:
/// "what handles a call to this number now", without knowing its id. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/lookup",
    operation_id = "lookupPhoneNumber",
    tag = "Reports",
    params(LookupQuery),
    responses(
        (status = 200, description = "The number.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of this state of the number"))),
        (status = 400, description = "`phone_number` is missing or not a phone number.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "phone_number is required", "error": "Bad Request"})),
        (status = 404, description = "This workspace does not hold the number.", body = ErrorResponse,
            example = json!({"statusCode": 404, "message": "Phone number not found", "error": "Not Found"})),
    )
)]
pub async fn lookup_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let text = raw
        .as_deref()
        .and_then(|raw| query_value(raw, "phone_number"))
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("phone_number is required"))?;
    let number =
        E164::parse(&text).map_err(|e| ApiError::bad_request(format!("phone_number {e}")))?;
    let found = state
        .store
        .find_phone_number(&caller.workspace_id, &number)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(number_response(StatusCode::OK, found))
}

// ---- Compliance review ----

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
}

impl FindingCode {
    pub const ALL: [FindingCode; 6] = [
        FindingCode::CountryNotEnabled,
        FindingCode::KycRequired,
        FindingCode::Unrouted,
        FindingCode::VoiceMissing,
        FindingCode::StuckPending,
        FindingCode::UnmanagedProvider,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::CountryNotEnabled => "country_not_enabled",
            FindingCode::KycRequired => "kyc_required",
            FindingCode::Unrouted => "unrouted",
            FindingCode::VoiceMissing => "voice_missing",
            FindingCode::StuckPending => "stuck_pending",
            FindingCode::UnmanagedProvider => "unmanaged_provider",
        }
    }

    fn severity(self) -> Severity {
        match self {
            FindingCode::CountryNotEnabled | FindingCode::KycRequired => Severity::Error,
            FindingCode::VoiceMissing => Severity::Error,
            FindingCode::Unrouted | FindingCode::StuckPending => Severity::Warning,
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
    #[schema(value_type = Object, example = json!({"country_not_enabled": 0, "kyc_required": 1, "stuck_pending": 0, "unmanaged_provider": 1, "unrouted": 2, "voice_missing": 0}))]
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
}

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
            format!("{n} has been pending since {}; the purchase sweep should have settled it — check the server's logs.", number.created_at),
        ));
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
/// Switchboard cannot release. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/compliance",
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
    let context = ReviewContext {
        enabled_countries: workspace.enabled_countries,
        kyc_verified: workspace.kyc_verified,
        kyc_countries,
        managed_providers,
        stuck_before: Timestamp::from_millis(Timestamp::now().as_millis() - stuck_age),
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

/// The columns of an export, every field of the number object in its order; `switchboard
/// numbers import` reads such a file back.
pub const EXPORT_COLUMNS: [&str; 17] = [
    "id",
    "phone_number",
    "country_code",
    "type",
    "monthly_cost_usd",
    "capabilities",
    "label",
    "nickname",
    "agent_id",
    "inbound_agent_id",
    "outbound_agent_id",
    "status",
    "provider",
    "sip_trunk_enabled",
    "is_default",
    "created_at",
    "updated_at",
];

/// The two formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

impl ExportFormat {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(Self::Csv),
            "ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    /// The header line, if the format has one.
    pub fn header(self) -> Option<Vec<u8>> {
        match self {
            Self::Csv => Some(csv_line(EXPORT_COLUMNS.iter().map(|c| (*c).to_owned()))),
            Self::Ndjson => None,
        }
    }

    /// One number as one line.
    pub fn line(self, number: PhoneNumber) -> Vec<u8> {
        let object = PhoneNumberObject::from(number);
        match self {
            Self::Csv => csv_line(csv_cells(&object)),
            Self::Ndjson => {
                let mut line = serde_json::to_vec(&object).unwrap_or_default();
                line.push(b'\n');
                line
            }
        }
    }
}

fn csv_cells(o: &PhoneNumberObject) -> impl Iterator<Item = String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        o.id.clone(),
        o.phone_number.clone(),
        o.country_code.clone(),
        o.number_type.to_owned(),
        o.monthly_cost_usd.clone(),
        o.capabilities.join("|"),
        spreadsheet_safe(text(&o.label)),
        spreadsheet_safe(text(&o.nickname)),
        text(&o.agent_id),
        text(&o.inbound_agent_id),
        text(&o.outbound_agent_id),
        o.status.to_owned(),
        o.provider.clone(),
        o.sip_trunk_enabled.to_string(),
        o.is_default.to_string(),
        o.created_at.clone(),
        o.updated_at.clone(),
    ]
    .into_iter()
}

/// Whether a spreadsheet would run `text` as a formula (OWASP's CSV injection list: `=`,
/// `+`, `-`, `@`, tab, carriage return first), also behind apostrophes that
/// [`spreadsheet_safe`] would otherwise take for its own.
fn reads_as_formula(text: &str) -> bool {
    text.trim_start_matches('\'')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A free-text cell (a label, a nickname: text a person typed) as a spreadsheet shows it
/// without running it: prefixed with `'` when it would read as a formula, as OWASP advises.
/// The other columns hold values the server formats itself (E.164 numbers, amounts, ids,
/// times) and are written as they are: `+14155550100` is a number, not a formula.
/// [`from_spreadsheet_safe`] reads the cell back.
pub fn spreadsheet_safe(text: String) -> String {
    if reads_as_formula(&text) {
        format!("'{text}")
    } else {
        text
    }
}

/// The text a [`spreadsheet_safe`] cell was made from.
pub fn from_spreadsheet_safe(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if reads_as_formula(rest) => rest,
        _ => cell,
    }
}

/// One CSV record (RFC 4180: quoted when it must be, `\r\n` at the end).
fn csv_line(cells: impl Iterator<Item = String>) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            line.push(b',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            line.push(b'"');
            line.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            line.push(b'"');
        } else {
            line.extend_from_slice(cell.as_bytes());
        }
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// The export's format and filters.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct ExportQuery {
    /// Without it, `Accept: application/x-ndjson` picks NDJSON and anything else CSV.
    #[param(value_type = Option<ExportFormatName>, inline)]
    format: Option<String>,
}

/// The formats of an export.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "documents the values of format")]
pub enum ExportFormatName {
    Csv,
    Ndjson,
}

/// How many lines go into one chunk of the body: enough that a chunk is worth a write.
const LINES_PER_CHUNK: usize = 256;

/// The body of an export: the header, then a chunk of lines at a time as the store reads
/// them. Memory stays flat; a client that goes away drops the body, and with it the
/// store's stream, which stops the query. A store error mid-way ends the body with an
/// error, so the client sees a cut-off transfer, never a short file that looks whole.
pub fn export_body(format: ExportFormat, numbers: NumberStream) -> Body {
    let header = format.header().map(Bytes::from);
    let lines = futures_util::stream::unfold(Some(numbers), move |numbers| async move {
        let mut numbers = numbers?;
        let first = numbers.recv().await?;
        let mut chunk = Vec::new();
        let mut pending = Some(first);
        let mut taken = 0;
        while let Some(item) = pending.take() {
            match item {
                Ok(number) => chunk.extend_from_slice(&format.line(number)),
                Err(error) => {
                    tracing::error!(%error, "export stopped by a database error");
                    return Some((Err(std::io::Error::other(error)), None));
                }
            }
            taken += 1;
            if taken < LINES_PER_CHUNK {
                pending = numbers.try_recv().ok();
            }
        }
        Some((Ok(Bytes::from(chunk)), Some(numbers)))
    });
    let head = futures_util::stream::iter(header.map(Ok));
    Body::from_stream(futures_util::StreamExt::chain(head, lines))
}

/// Export phone numbers (ext).
///
/// Every number that matches the list's filters, every field, as CSV (which `switchboard
/// numbers import` reads back) or NDJSON, streamed as it is read. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/export",
    operation_id = "exportPhoneNumbers",
    tag = "Reports",
    params(NumberFilterQuery, ExportQuery),
    responses(
        (status = 200, description = "The numbers, oldest first.", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "A filter or `format` value is invalid.", body = ErrorResponse),
    )
)]
pub async fn export_phone_numbers(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let mut problems = Vec::new();
    let filter = number_filter(&query, &mut problems);
    let format = match query.get("format") {
        Some(name) => ExportFormat::parse(name).unwrap_or_else(|| {
            problems.push("format must be one of the following values: csv, ndjson".into());
            ExportFormat::Csv
        }),
        None => {
            let accept = headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("application/x-ndjson") {
                ExportFormat::Ndjson
            } else {
                ExportFormat::Csv
            }
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let numbers = match filter {
        Some(filter) => state
            .store
            .stream_phone_numbers(&caller.workspace_id, &filter),
        // A filter that matches nothing: an empty stream.
        None => tokio::sync::mpsc::channel(1).1,
    };
    let extension = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Ndjson => "ndjson",
    };
    let mut response = (StatusCode::OK, export_body(format, numbers)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"phone-numbers.{extension}\""
    )) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_their_plus() {
        assert_eq!(
            query_value("phone_number=+1%20(415)%20555-0100&x=1", "phone_number").as_deref(),
            Some("+1 (415) 555-0100")
        );
        assert_eq!(
            query_value("a=b&phone_number=%2B14155550100", "phone_number").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(query_value("a=b", "phone_number"), None);
        assert_eq!(
            query_value("phone_number", "phone_number").as_deref(),
            Some("")
        );
        assert_eq!(
            query_value("phone_number=%zz", "phone_number").as_deref(),
            Some("%zz")
        );
        assert_eq!(
            query_value("phone_number=%2B1+(415)+555-2671", "phone_number").as_deref(),
            Some("+1 (415) 555-2671")
        );
    }

    #[test]
    fn group_by_is_checked() {
        assert_eq!(
            parse_group_by(Some("country_code,inbound_agent_id")),
            Ok(vec![NumberGroup::CountryCode, NumberGroup::InboundAgent])
        );
        assert!(parse_group_by(Some("country")).is_err());
        assert!(parse_group_by(Some("type,type")).is_err());
        assert!(parse_group_by(Some("")).is_err());
        assert_eq!(parse_group_by(None), Ok(vec![]));
    }

    #[test]
    fn csv_quotes_what_it_must() {
        let line =
            csv_line(["a".into(), "b,c".into(), "say \"hi\"".into(), "x\ny".into()].into_iter());
        assert_eq!(line, b"a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\r\n");
    }

    #[test]
    fn formulas_are_defused_and_read_back() {
        for (text, cell) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("'=x", "''=x"),
            ("'quoted", "'quoted"),
            ("plain", "plain"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(text.to_owned()), cell, "{text}");
            assert_eq!(from_spreadsheet_safe(cell), text, "{cell}");
        }
    }
}
