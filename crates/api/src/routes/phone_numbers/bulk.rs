//! Changing many numbers at once (re-routing a fleet): one transaction, the same rules and
//! history as single PATCHes, and a dry run that shows what would change.

use super::*;

/// Most numbers one bulk update may change.
pub const BULK_MAX_NUMBERS: usize = 1000;

/// The body of a bulk update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct BulkUpdateRequest {
    /// The numbers to change, each once.
    #[schema(min_items = 1, max_items = 1000, example = json!(["phn_4k2m9x7q1z3b", "phn_8d1f5g2h7j3k"]))]
    ids: Vec<String>,
    /// The fields to set on every one of them, as in a PATCH (`is_default: true` only with
    /// one id: a workspace has one default).
    changes: UpdatePhoneNumberRequest,
    /// True: answer what would change, and change nothing.
    dry_run: Option<bool>,
}

/// One number of a bulk update.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkUpdateItem {
    #[schema(example = "phn_4k2m9x7q1z3b")]
    id: String,
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// Each field that changes (or would), before and after; empty when the number already
    /// had these values.
    #[schema(value_type = Object, example = json!({"inbound_agent_id": {"before": null, "after": "agt_7h3k9m2p4q6r"}}))]
    changes: serde_json::Value,
}

/// What a bulk update changed (or, in a dry run, would change).
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkUpdateResult {
    dry_run: bool,
    /// How many numbers change.
    #[schema(example = 2)]
    changed: usize,
    /// How many already had these values.
    #[schema(example = 0)]
    unchanged: usize,
    /// Every number, in the order of `ids`.
    items: Vec<BulkUpdateItem>,
}

/// Update many phone numbers (ext).
///
/// Applies one change (the fields of a PATCH) to every listed number in one transaction: all
/// or nothing, each change in its number's history and the feed as a single PATCH would
/// record it. With `dry_run: true`, answers what would change and changes nothing. Needs
/// `phone_numbers:write`.
#[utoipa::path(
    post,
    path = "/v1/organization-phone-numbers/bulk-update",
    operation_id = "bulkUpdatePhoneNumbers",
    tag = "Phone Numbers",
    request_body = BulkUpdateRequest,
    responses(
        (status = 200, description = "What changed, or would.", body = BulkUpdateResult),
        (status = 400, description = "A field is invalid, an id is not a number of this workspace or is listed twice, or `is_default: true` names more than one number; nothing changed.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "phn_000000000000 is not a number of this workspace", "error": "Bad Request"})),
    )
)]
pub async fn bulk_update_phone_numbers(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let mut fields = Fields::new(body.parse()?.object);
    let ids = fields.optional_string_list("ids");
    let dry_run = fields.optional_bool("dry_run", None).unwrap_or(false);
    let changes = match fields.value_change("changes") {
        FieldChange::Set(serde_json::Value::Object(changes)) => Some(changes),
        FieldChange::Set(_) => {
            fields.problem("changes must be an object: the fields of a PATCH");
            None
        }
        FieldChange::Keep | FieldChange::Clear => {
            fields.problem("changes is required: the fields of a PATCH to apply to every number");
            None
        }
    };
    let ids = match ids {
        None => {
            fields.problem("ids is required: the numbers to change");
            Vec::new()
        }
        Some(ids) => bulk_ids(&ids, &mut fields),
    };
    fields.finish()?;
    let changes =
        changes.ok_or_else(|| ApiError::Internal("validation passed without changes".into()))?;
    let (patch, inbound_field) = read_patch(changes)?;
    if patch.is_default == Some(true) && ids.len() > 1 {
        return Err(ApiError::bad_request(
            "is_default: true may name one number only: a workspace has one default",
        ));
    }
    let changed = state
        .store
        .update_phone_numbers(&caller.workspace_id, &ids, patch, dry_run, &caller.actor())
        .await
        .map_err(|error| patch_refusal(error, inbound_field))?;
    let items: Vec<BulkUpdateItem> = changed
        .iter()
        .map(|(before, after)| BulkUpdateItem {
            id: after.id.to_string(),
            phone_number: after.phone_number.clone(),
            changes: switchboard_store::changes(Some(before), Some(after))
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_else(|| serde_json::json!({})),
        })
        .collect();
    let changed = items
        .iter()
        .filter(|i| i.changes.as_object().is_some_and(|c| !c.is_empty()))
        .count();
    let result = BulkUpdateResult {
        dry_run,
        changed,
        unchanged: items.len() - changed,
        items,
    };
    Ok(json_response(StatusCode::OK, &result))
}

/// The listed ids, each a number id and listed once; problems are added to `fields`.
fn bulk_ids(ids: &[String], fields: &mut Fields) -> Vec<PhoneNumberId> {
    if ids.is_empty() || ids.len() > BULK_MAX_NUMBERS {
        fields.problem(format!("ids must list 1 to {BULK_MAX_NUMBERS} numbers"));
        return Vec::new();
    }
    let mut parsed: Vec<PhoneNumberId> = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::new();
    for (index, id) in ids.iter().enumerate() {
        match PhoneNumberId::parse(id) {
            Some(id) if !seen.insert(id.clone()) => {
                fields.problem(format!("ids[{index}] lists {id} a second time"));
            }
            Some(id) => parsed.push(id),
            None => fields.problem(format!("ids[{index}] is not a number of this workspace")),
        }
    }
    parsed
}
