//! Webhook endpoints: create, list, read, change, delete, rotate the secret.

use super::*;

/// Create a webhook endpoint.
///
/// Answers its signing secret, once. Needs `webhooks:manage`.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    operation_id = "createWebhookEndpoint",
    tag = "Webhooks",
    request_body = EndpointRequest,
    responses(
        (status = 201, description = "Created; `secret` is shown only now.", body = EndpointWithSecret),
        (status = 400, description = "A field is invalid, or the URL is not https or points at a private address.", body = ErrorResponse),
        (status = 403, description = "The key may not read some of the event types (each kind needs its read scope).", body = ErrorResponse),
        (status = 409, description = "The workspace has 20 endpoints, the most it may have.", body = ErrorResponse),
    )
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let mut fields = endpoint_fields(&state, body, true).await?;
    let event_types =
        stored_event_types(fields.event_types.take().unwrap_or_default(), caller.scopes);
    check_readable(&event_types, caller.scopes)?;
    let (_, existing) = state
        .store
        .list_webhook_endpoints(&caller.workspace_id, PageRequest { page: 1, limit: 1 })
        .await?;
    if existing >= MAX_ENDPOINTS_PER_WORKSPACE {
        return Err(ApiError::Conflict(format!(
            "this workspace has {existing} webhook endpoints, the most it may have ({MAX_ENDPOINTS_PER_WORKSPACE}); delete one first, or let one endpoint take several event types"
        )));
    }
    let secret = generate_secret();
    let endpoint = state
        .store
        .create_webhook_endpoint(
            &caller.workspace_id,
            NewWebhookEndpoint {
                url: fields.url.unwrap_or_default(),
                description: fields.description.flatten(),
                event_types,
                secret_sealed: state.sealing_key.seal(secret.as_bytes()),
            },
            &caller.actor(),
        )
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &EndpointWithSecret {
            endpoint: endpoint.into(),
            secret,
        },
    ))
}

/// List webhook endpoints, oldest first. Needs `webhooks:manage`.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    operation_id = "listWebhookEndpoints",
    tag = "Webhooks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of endpoints.", body = Page<EndpointObject>),
        (status = 400, description = "A paging value is invalid.", body = ErrorResponse),
    )
)]
pub async fn list_endpoints(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let (endpoints, total) = state
        .store
        .list_webhook_endpoints(&caller.workspace_id, page)
        .await?;
    let items: Vec<EndpointObject> = endpoints.into_iter().map(EndpointObject::from).collect();
    Ok(page_response(items, total, page))
}

/// Get a webhook endpoint. Needs `webhooks:manage`.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "getWebhookEndpoint",
    tag = "Webhooks",
    params(EndpointPath),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointObject),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse,
            example = json!({"statusCode": 404, "message": "Webhook endpoint not found", "error": "Not Found"})),
    )
)]
pub async fn get_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    let endpoint = state
        .store
        .get_webhook_endpoint(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointObject::from(endpoint),
    ))
}

/// Update a webhook endpoint: its URL, event types, description, or whether it is enabled.
/// Needs `webhooks:manage`.
#[utoipa::path(
    patch,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "updateWebhookEndpoint",
    tag = "Webhooks",
    params(EndpointPath),
    request_body = EndpointUpdateRequest,
    responses(
        (status = 200, description = "The updated endpoint.", body = EndpointObject),
        (status = 400, description = "A field is invalid.", body = ErrorResponse),
        (status = 403, description = "The key may not read some of the event types the endpoint would receive.", body = ErrorResponse),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse),
    )
)]
pub async fn update_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    let mut fields = endpoint_fields(&state, body, false).await?;
    let current = state
        .store
        .get_webhook_endpoint(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    // Whoever changes an endpoint answers for what it receives from then on.
    match fields.event_types.take() {
        Some(requested) => {
            let types = stored_event_types(requested, caller.scopes);
            check_readable(&types, caller.scopes)?;
            fields.event_types = Some(types);
        }
        None => check_readable(&current.event_types, caller.scopes)?,
    }
    let endpoint = state
        .store
        .update_webhook_endpoint(&caller.workspace_id, &id, fields, &caller.actor())
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    state.webhooks.wake.notify_one();
    Ok(json_response(
        StatusCode::OK,
        &EndpointObject::from(endpoint),
    ))
}

/// Delete a webhook endpoint and its deliveries. Needs `webhooks:manage`.
#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "deleteWebhookEndpoint",
    tag = "Webhooks",
    params(EndpointPath),
    responses(
        (status = 200, description = "Deleted.", body = MessageBody),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse),
    )
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    if !state
        .store
        .delete_webhook_endpoint(&caller.workspace_id, &id, &caller.actor())
        .await?
    {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    Ok(message_response("Webhook endpoint deleted successfully."))
}

/// Rotate an endpoint's signing secret.
///
/// Answers the new secret, once. The old one keeps signing for 24 hours: each delivery
/// carries both signatures, so receivers can switch at their own pace. Needs
/// `webhooks:manage`.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = "Webhooks",
    params(EndpointPath),
    responses(
        (status = 200, description = "The endpoint with its new secret, shown only now.", body = EndpointWithSecret),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    let secret = generate_secret();
    let endpoint = state
        .store
        .rotate_webhook_secret(
            &caller.workspace_id,
            &id,
            state.sealing_key.seal(secret.as_bytes()),
            Timestamp::from_millis(Timestamp::now().as_millis() + ROTATION_OVERLAP_MS),
            &caller.actor(),
        )
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointWithSecret {
            endpoint: endpoint.into(),
            secret,
        },
    ))
}
