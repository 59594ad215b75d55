//! Listing a workspace's numbers, with the filters reports share.

use super::*;

/// A number type, in any of its spellings (`toll_free` is the one answers use).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code, reason = "documents the values a type filter takes")]
pub enum NumberTypeName {
    #[serde(rename = "local")]
    Local,
    #[serde(rename = "toll_free")]
    TollFree,
    #[serde(rename = "toll-free")]
    TollFreeHyphen,
    #[serde(rename = "tollfree")]
    Tollfree,
    #[serde(rename = "mobile")]
    Mobile,
}

/// A number's status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "documents the values a status filter takes")]
pub enum StatusName {
    Active,
    Pending,
}

/// Filters of the number list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it field by field to report every bad value at once"
)]
pub struct NumberFilterQuery {
    /// ISO country code, e.g. `US`.
    country_code: Option<String>,
    /// Letter case is ignored.
    #[param(rename = "type", value_type = Option<NumberTypeName>, inline)]
    number_type: Option<String>,
    /// Letter case is ignored.
    #[param(value_type = Option<StatusName>, inline)]
    status: Option<String>,
    /// Provider id, e.g. `sandbox`.
    provider: Option<String>,
    /// Numbers whose inbound agent is this one.
    agent_id: Option<String>,
    /// Numbers whose outbound agent is this one (ext).
    outbound_agent_id: Option<String>,
    /// Matches the number, its nickname or its label.
    q: Option<String>,
}

/// List phone numbers.
///
/// A page of the workspace's numbers, oldest first. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers",
    operation_id = "listPhoneNumbers",
    tag = "Phone Numbers",
    params(PageQuery, NumberFilterQuery),
    responses(
        (status = 200, description = "A page of numbers.", body = Page<PhoneNumberObject>),
        (status = 400, description = "A paging or filter value is invalid.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "limit must not be greater than 100", "error": "Bad Request"})),
    )
)]
pub async fn list_phone_numbers(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    let filter = number_filter(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let Some(filter) = filter else {
        return Ok(list_page(Vec::new(), 0, page));
    };
    let (items, total) = state
        .store
        .list_phone_numbers(&caller.workspace_id, &filter, page)
        .await?;
    Ok(list_page(items, total, page))
}

/// The list's filters (see [`NumberFilterQuery`]), for the list and the reports alike. Bad
/// values are added to `problems`. `None` when the filters can match nothing: an agent id of
/// the wrong shape routes no number, and no number holds a control character, which is an
/// empty answer, not an error.
pub(crate) fn number_filter(
    query: &HashMap<String, String>,
    problems: &mut Vec<String>,
) -> Option<NumberFilter> {
    // An empty `type` or `status` is a value that is none of the allowed ones, and so is one
    // with a control character: those are 400s whatever the other filters say.
    let number_type = query.get("type").and_then(|t| {
        NumberType::parse(t)
            .map_err(|e| problems.push(format!("type {e}")))
            .ok()
    });
    let status = query.get("status").and_then(|s| {
        NumberStatus::parse(s)
            .map_err(|e| problems.push(format!("status {e}")))
            .ok()
    });
    // No stored value holds a control character (the API refuses them), so a free-text
    // filter with one matches nothing; PostgreSQL could not even take a NUL as a parameter.
    if query.values().any(|v| v.chars().any(char::is_control)) {
        return None;
    }
    let text = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let agent = text("agent_id").map(AgentId::parse);
    let outbound_agent = text("outbound_agent_id").map(AgentId::parse);
    if matches!(agent, Some(None)) || matches!(outbound_agent, Some(None)) {
        return None;
    }
    Some(NumberFilter {
        country_code: text("country_code").map(str::to_ascii_uppercase),
        number_type,
        status,
        provider: text("provider").map(str::to_owned),
        inbound_agent_id: agent.flatten(),
        outbound_agent_id: outbound_agent.flatten(),
        query: text("q").map(str::to_owned),
    })
}

fn list_page(
    items: Vec<PhoneNumber>,
    total: u64,
    page: switchboard_store::PageRequest,
) -> Response {
    let items: Vec<PhoneNumberObject> = items.into_iter().map(PhoneNumberObject::from).collect();
    page_response(items, total, page)
}
