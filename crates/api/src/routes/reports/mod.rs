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
use switchboard_domain::{
    AgentId, E164, Money, NumberStatus, PhoneNumber, PhoneNumberId, Scope, Timestamp,
};
use switchboard_server::AppState;
use switchboard_server::json::json_response;
use switchboard_server::{ApiError, ErrorResponse};
use switchboard_store::{
    CallPeriod, CallTotals, CarrierFindingCode, NumberCallActivity, NumberGroup, NumberGroupTotals,
    NumberStream, PageRequest,
};
use utoipa::{IntoParams, ToSchema};

mod compliance;
mod export;
mod lookup;

pub use compliance::*;
pub use export::*;
pub use lookup::*;

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
    /// (ext) With it, the totals and each group also count the calls that started from this
    /// RFC 3339 time (inclusive) until `until`.
    #[param(format = DateTime, example = "2026-11-01T00:00:00Z")]
    since: Option<String>,
    /// (ext) The end of the calls' period (exclusive); now when absent.
    #[param(format = DateTime, example = "2026-12-01T00:00:00Z")]
    until: Option<String>,
}

/// The calls of a summary's numbers over the period asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallFigures {
    /// The period, only in the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub until: Option<String>,
    /// Calls that started in the period.
    #[schema(example = 120)]
    pub calls: u64,
    /// Of them, the ones a target took.
    #[schema(example = 97)]
    pub answered_calls: u64,
    /// Their minutes, to a tenth.
    #[schema(example = 431.5)]
    pub answered_minutes: f64,
    /// The monthly cost prorated to the period (a month is 30 days) over the answered
    /// minutes, in US dollars to four places; `null` without answered minutes.
    #[schema(required = true, example = "0.0212")]
    pub cost_per_answered_minute_usd: Option<String>,
}

const MONTH_MS: f64 = 30.0 * 24.0 * 60.0 * 60.0 * 1000.0;

impl CallFigures {
    fn of(totals: CallTotals, monthly_cost: Money, period: &CallPeriod) -> Self {
        let minutes = totals.answered_seconds as f64 / 60.0;
        let months = (period.until.as_millis() - period.since.as_millis()) as f64 / MONTH_MS;
        let period_cost = monthly_cost.cents() as f64 / 100.0 * months;
        Self {
            since: None,
            until: None,
            calls: totals.calls,
            answered_calls: totals.answered,
            answered_minutes: (minutes * 10.0).round() / 10.0,
            cost_per_answered_minute_usd: (totals.answered_seconds > 0)
                .then(|| format!("{:.4}", period_cost / minutes)),
        }
    }
}

/// The calls' period of a summary's query: `None` without `since`; a bad time, or a `since`
/// not before `until`, is a problem.
pub fn call_period(
    query: &HashMap<String, String>,
    workspace: &switchboard_domain::WorkspaceId,
    problems: &mut Vec<String>,
) -> Option<CallPeriod> {
    let since = crate::extract::query_time(query, "since", problems);
    let until = crate::extract::query_time(query, "until", problems);
    let since = since?;
    let until = until.unwrap_or_else(Timestamp::now);
    if since >= until {
        problems.push("since must be before until (or before now, without until)".into());
        return None;
    }
    Some(CallPeriod {
        workspace: workspace.clone(),
        since,
        until,
    })
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
    /// (ext) With `since`: their calls over the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<CallFigures>,
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
    /// (ext) With `since`: the group's calls over the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<CallFigures>,
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
pub fn summary(
    group_by: &[NumberGroup],
    rows: Vec<NumberGroupTotals>,
    period: Option<&CallPeriod>,
) -> Result<Summary, String> {
    let count = rows.iter().map(|r| r.count).sum();
    let call_totals = rows
        .iter()
        .filter_map(|r| r.calls)
        .fold(CallTotals::default(), |sum, c| CallTotals {
            calls: sum.calls + c.calls,
            answered: sum.answered + c.answered,
            answered_seconds: sum.answered_seconds + c.answered_seconds,
        });
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
                    calls: period.map(|p| {
                        CallFigures::of(row.calls.unwrap_or_default(), row.monthly_cost, p)
                    }),
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
        calls: period.map(|p| CallFigures {
            since: Some(p.since.to_string()),
            until: Some(p.until.to_string()),
            ..CallFigures::of(call_totals, total, p)
        }),
    })
}

/// Summarize phone numbers (ext).
///
/// How many numbers match the list's filters and what they cost a month, in total and
/// grouped by any of `country_code`, `type`, `provider`, `status`, `label` and
/// `inbound_agent_id`: telephony spend per country, per use case (label) or per agent. With
/// `since` (and `until`), also their calls over that period: calls, answered calls and
/// minutes, and the cost per answered minute. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/summary",
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
    let period = call_period(&query, &caller.workspace_id, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let rows = match filter {
        Some(filter) => {
            state
                .store
                .summarize_phone_numbers(&caller.workspace_id, &filter, &group_by, period.as_ref())
                .await?
        }
        None => Vec::new(),
    };
    let summary =
        summary(&group_by, rows, period.as_ref()).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(json_response(StatusCode::OK, &summary))
}

// ---- Routing audit: lookup by number ----

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
