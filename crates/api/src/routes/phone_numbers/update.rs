//! Changing a number (label, agents, with If-Match) and releasing it.

use super::*;

/// An agent id field of a PATCH: `null` clears; a string must name an agent.
/// A malformed id is a problem reported with the body's others.
fn agent_change(fields: &mut Fields, name: &'static str) -> FieldChange<AgentId> {
    match fields.string_change(name, 64) {
        FieldChange::Keep => FieldChange::Keep,
        FieldChange::Clear => FieldChange::Clear,
        FieldChange::Set(id) => match AgentId::parse(&id) {
            Some(agent) => FieldChange::Set(agent),
            None => {
                fields.problem(format!("{name} is not an agent of this workspace"));
                FieldChange::Keep
            }
        },
    }
}

/// The fields a PATCH may change; each is optional, and `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field to tell a missing field from a null one"
)]
pub struct UpdatePhoneNumberRequest {
    #[schema(
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
        example = "US Sales Line"
    )]
    nickname: Option<String>,
    #[schema(max_length = 255, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    label: Option<String>,
    /// Older name of `inbound_agent_id`; when both are given they must agree.
    agent_id: Option<String>,
    /// An agent of this workspace.
    #[schema(example = "agt_7h3k9m2p4q6r")]
    inbound_agent_id: Option<String>,
    /// An agent of this workspace.
    outbound_agent_id: Option<String>,
    /// `true` makes this the workspace default (the previous default stops being one).
    is_default: Option<bool>,
    /// (ext) How calls are routed beyond `inbound_agent_id`; `null` removes the policy.
    #[schema(value_type = Option<RoutingPolicyDoc>)]
    routing: Option<serde_json::Value>,
}

/// Update a phone number.
///
/// Change its routing and labels. Needs `phone_numbers:write`.
#[utoipa::path(
    patch,
    path = "/v1/organization-phone-numbers/{id}",
    operation_id = "updatePhoneNumber",
    tag = "Phone Numbers",
    params(
        NumberPath,
        ("If-Match" = Option<String>, Header, description = "Apply only if the number is still in the state of this `ETag` (or `*`); otherwise 412."),
    ),
    request_body = UpdatePhoneNumberRequest,
    responses(
        (status = 200, description = "The number after the change.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of the new state"))),
        (status = 400, description = "A field is invalid or names no agent of this workspace (a routing policy's problems name their path, e.g. `routing.rules[0].targets[1].weight`).", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "inbound_agent_id is not an agent of this workspace", "error": "Bad Request"})),
        (status = 404, description = "No such number in this workspace.", body = ErrorResponse),
        (status = 412, description = "The number changed since the `If-Match` tag.", body = ErrorResponse),
    )
)]
pub async fn update_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let id = number_id(id)?;
    let (patch, inbound_field) = read_patch(body.parse()?.object)?;
    // After validation: a request that would be a 400 anyway is one, whatever its
    // preconditions (RFC 9110 §13.2.1).
    let expected = expected_revision(&headers, &id)?;
    match state
        .store
        .update_phone_number(&caller.workspace_id, &id, patch, expected, &caller.actor())
        .await
    {
        Ok(number) => Ok(number_response(StatusCode::OK, number)),
        Err(error) => Err(patch_refusal(error, inbound_field)),
    }
}

/// The fields of a PATCH (or of a bulk update's `changes`) as a patch, and the name the
/// body gave the inbound agent (`agent_id` or `inbound_agent_id`), for the answers' messages.
/// Every problem of the body is in one 400.
pub(crate) fn read_patch(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<(PhoneNumberPatch, &'static str), ApiError> {
    let mut fields = Fields::new(object);
    let nickname = fields.string_change("nickname", NICKNAME_MAX_CHARS);
    let label = fields.string_change("label", LABEL_MAX_CHARS);
    let agent_id = agent_change(&mut fields, "agent_id");
    let inbound = agent_change(&mut fields, "inbound_agent_id");
    let outbound_agent_id = agent_change(&mut fields, "outbound_agent_id");
    let is_default = fields.optional_bool("is_default", None);
    let routing = match fields.value_change("routing") {
        FieldChange::Keep => FieldChange::Keep,
        FieldChange::Clear => FieldChange::Clear,
        FieldChange::Set(value) => match RoutingPolicy::from_json(&value) {
            Ok(policy) => FieldChange::Set(policy),
            Err(problems) => {
                for problem in problems.0 {
                    fields.problem(problem);
                }
                FieldChange::Keep
            }
        },
    };
    fields.finish()?;
    // `agent_id` is the older name of `inbound_agent_id`.
    let (inbound_agent_id, inbound_field) = match (agent_id, inbound) {
        (a, FieldChange::Keep) => (a, "agent_id"),
        (FieldChange::Keep, i) => (i, "inbound_agent_id"),
        (a, i) if a == i => (i, "inbound_agent_id"),
        _ => {
            return Err(ApiError::bad_request(
                "agent_id and inbound_agent_id must be the same when both are given",
            ));
        }
    };
    let patch = PhoneNumberPatch {
        nickname,
        label,
        inbound_agent_id,
        outbound_agent_id,
        is_default,
        routing,
    };
    Ok((patch, inbound_field))
}

/// The answer to a patch the store refused.
pub(crate) fn patch_refusal(error: PatchError, inbound_field: &'static str) -> ApiError {
    match error {
        PatchError::NumberNotFound => ApiError::NotFound(NOT_FOUND),
        PatchError::MissingNumber(id) => {
            ApiError::bad_request(format!("{id} is not a number of this workspace"))
        }
        PatchError::Changed => ApiError::PreconditionFailed,
        PatchError::UnknownAgent(field) => {
            let field = if field == "inbound_agent_id" {
                inbound_field
            } else {
                &field
            };
            ApiError::bad_request(format!("{field} is not an agent of this workspace"))
        }
        PatchError::Store(error) => error.into(),
    }
}

/// Delete (release) a phone number.
///
/// Releases it at its provider, then removes it; the number can then be bought again.
/// Needs `phone_numbers:write`.
#[utoipa::path(
    delete,
    path = "/v1/organization-phone-numbers/{id}",
    operation_id = "deletePhoneNumber",
    tag = "Phone Numbers",
    params(
        NumberPath,
        ("If-Match" = Option<String>, Header, description = "Release only if the number is still in the state of this `ETag` (or `*`); otherwise 412."),
    ),
    responses(
        (status = 200, description = "Released.", body = MessageBody),
        (status = 404, description = "No such number in this workspace.", body = ErrorResponse),
        (status = 409, description = "The number is the workspace default, or another request is releasing (or still buying) it.", body = ErrorResponse,
            example = json!({"statusCode": 409, "message": "Phone number is the workspace default", "error": "Conflict"})),
        (status = 412, description = "The number changed since the `If-Match` tag.", body = ErrorResponse),
        (status = 502, description = "The provider could not be reached; the number is still yours.", body = ErrorResponse),
    )
)]
pub async fn release_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let id = number_id(id)?;
    let expected = match expected_revision(&headers, &id) {
        Ok(expected) => expected,
        Err(unmatchable) => {
            // An unknown number is a 404 whatever the precondition.
            find_number(&state, &caller, &id).await?;
            return Err(unmatchable);
        }
    };
    // The claim makes this request the only one, on any replica, that gives the number back
    // to its provider: a second release there could fail, or give back a number someone
    // else has bought meanwhile.
    let stale_before = Timestamp::from_millis(Timestamp::now().as_millis() - RELEASE_ABANDONED_MS);
    let number = match state
        .store
        .begin_release(&caller.workspace_id, &id, expected, stale_before)
        .await?
    {
        ReleaseClaim::Claimed(number) => number,
        ReleaseClaim::NotFound => return Err(ApiError::NotFound(NOT_FOUND)),
        ReleaseClaim::Changed => return Err(ApiError::PreconditionFailed),
        ReleaseClaim::IsDefault => {
            return Err(ApiError::Conflict(
                "Phone number is the workspace default".into(),
            ));
        }
        ReleaseClaim::InProgress => {
            return Err(ApiError::Conflict(
                "Phone number is being purchased or released by another request".into(),
            ));
        }
    };
    let message = match state.providers.get(&number.provider) {
        Some(provider) => {
            let e164 = E164::parse(&number.phone_number).map_err(|e| {
                ApiError::Internal(format!("stored number {} {e}", number.phone_number).into())
            })?;
            // Released at the provider first: if that fails, the number is still ours and
            // still listed, and the client can retry. A provider that no longer holds it
            // (released in its console, say: the reconcile's `missing_at_carrier`) has
            // nothing to release, so the number goes here too.
            match provider.release(&e164).await {
                Ok(()) => "Phone number released successfully.".to_owned(),
                Err(ProviderError::NotOffered) => format!(
                    "Phone number released successfully ({} no longer held it).",
                    provider.id()
                ),
                Err(error) => {
                    if let Err(cleanup) = state.store.abandon_release(&id).await {
                        tracing::error!(number = %number.phone_number, error = %cleanup, "could not give up the release claim of a failed release; a retry may take it over after 10 minutes");
                    }
                    return Err(provider_failure(provider.as_ref(), error));
                }
            }
        }
        None if number.provider == "sip_trunk" => "Phone number released successfully.".to_owned(),
        None => format!(
            "Phone number removed from Switchboard. Its provider ({}) is not managed here: release it there too.",
            number.provider
        ),
    };
    // Unconditional: the claim was judged on the state the client named, and the number is
    // gone at the provider, so a change that landed meanwhile does not keep the record.
    if state
        .store
        .delete_phone_number(&caller.workspace_id, &id, &caller.actor())
        .await?
    {
        Ok(message_response(message))
    } else {
        Err(ApiError::Internal(
            "a claimed release found its number gone".into(),
        ))
    }
}

pub(super) fn provider_failure(provider: &dyn Provider, error: ProviderError) -> ApiError {
    match error {
        ProviderError::NotOffered => {
            ApiError::bad_request(format!("phoneNumber is not offered by {}", provider.id()))
        }
        ProviderError::Rejected(reason) => {
            ApiError::bad_request(format!("{} refused the request: {reason}", provider.id()))
        }
        ProviderError::InsufficientFunds(reason) => ApiError::PaymentRequired(format!(
            "{} refused: the account lacks the funds ({reason})",
            provider.id()
        )),
        ProviderError::RegulatoryRequirement(reason) => ApiError::bad_request(format!(
            "{} requires an address or a regulatory bundle for this number, which its account has not given: {reason}",
            provider.id()
        )),
        ProviderError::OrderPending { order, .. } => ApiError::BadGateway(format!(
            "{} has not completed order {order} yet",
            provider.id()
        )),
        ProviderError::Unavailable(cause) => {
            tracing::warn!(provider = provider.id(), cause, "provider unavailable");
            ApiError::BadGateway(format!(
                "Phone number provider {} is unavailable, please retry",
                provider.id()
            ))
        }
    }
}
