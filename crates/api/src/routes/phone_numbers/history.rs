//! A number's history of changes, newest first.

use super::*;

/// One change to a number.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PhoneNumberHistoryEntry)]
pub struct HistoryEntryObject {
    /// `purchased`, `imported`, `linked`, `updated` or `released`.
    #[schema(value_type = String, example = "updated")]
    action: &'static str,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    at: String,
    /// The API key id or the person's user id (`usr_…`) that made the change, `cli`, or
    /// `switchboard` (the server itself).
    #[schema(example = "k7d2m9x4q1z3b8")]
    actor: String,
    /// The name of the key that made the change (ext), while the key is live, or the
    /// person's email address (removed people too); `null` for the command line, the server,
    /// or a revoked key.
    #[schema(required = true, example = "call-router prod")]
    actor_name: Option<String>,
    /// The `X-Request-Id` of the request that made it.
    #[schema(required = true)]
    request_id: Option<String>,
    /// Each changed field, before and after.
    #[schema(value_type = Object, example = json!({"label": {"before": null, "after": "support"}}))]
    changes: serde_json::Value,
}

/// The names of the workspace's live keys and the addresses of its people (removed ones
/// too) by id, to name the actors of history and events.
pub(crate) async fn actor_names(
    state: &AppState,
    workspace: &switchboard_domain::WorkspaceId,
) -> Result<HashMap<String, String>, ApiError> {
    let keys = state.store.list_api_keys(workspace).await?;
    let people = state.store.user_emails(workspace).await?;
    Ok(keys
        .into_iter()
        .map(|key| (key.id.to_string(), key.name))
        .chain(
            people
                .into_iter()
                .map(|(id, email)| (id.to_string(), email.to_string())),
        )
        .collect())
}

/// History of a phone number.
///
/// Every change, newest first: purchase or import, each update, the release. A released
/// number keeps its history; an id this workspace never had is a 404. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/{id}/history",
    operation_id = "getPhoneNumberHistory",
    tag = "Phone Numbers",
    params(NumberPath, PageQuery),
    responses(
        (status = 200, description = "A page of changes.", body = Page<HistoryEntryObject>),
        (status = 400, description = "A paging value is invalid.", body = ErrorResponse),
        (status = 404, description = "This workspace never had the number.", body = ErrorResponse),
    )
)]
pub async fn phone_number_history(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let id = number_id(id)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let (entries, total) = state
        .store
        .phone_number_history(&caller.workspace_id, &id, page)
        .await?;
    if total == 0 {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let names = actor_names(&state, &caller.workspace_id).await?;
    let items: Vec<HistoryEntryObject> = entries
        .into_iter()
        .map(|entry| HistoryEntryObject {
            action: entry.action.as_str(),
            at: entry.at.to_string(),
            actor_name: names.get(&entry.actor).cloned(),
            actor: entry.actor,
            request_id: entry.request_id,
            changes: entry.changes,
        })
        .collect();
    Ok(page_response(items, total, page))
}
