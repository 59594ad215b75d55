//! Deliveries: a test ping, replays of past events, the delivery log and retries.

use super::*;

/// Send a signed `ping` to the endpoint now, and answer how it went.
///
/// The ping is recorded with the endpoint's deliveries; it is not retried. Disabled
/// endpoints can be tested too. Needs `webhooks:manage`.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/test",
    operation_id = "testWebhookEndpoint",
    tag = "Webhooks",
    params(EndpointPath),
    responses(
        (status = 200, description = "The ping's delivery, with its one attempt: `delivered` or `failed`.", body = DeliveryObject),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse),
    )
)]
pub async fn test_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    let runtime = &state.webhooks;
    let leased = state
        .store
        .create_webhook_ping(
            &caller.workspace_id,
            &id,
            &runtime.owner,
            runtime.lease_until(Timestamp::now()),
        )
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let (attempt, result) = runtime.attempt(&leased).await;
    runtime.record(&leased, attempt.clone(), result).await?;
    let mut delivery = leased.delivery;
    (delivery.state, delivery.next_attempt_at) = result.next_state();
    delivery.attempt_count = 1;
    delivery.attempts = vec![attempt];
    Ok(json_response(
        StatusCode::OK,
        &DeliveryObject::new(delivery, &state.sealing_key, &caller.workspace_id),
    ))
}

/// Queue what the endpoint missed.
///
/// Every event since `since` that its filter takes and that has no delivery to it yet —
/// what happened while it was disabled — in feed order. Needs `webhooks:manage`.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/replay",
    operation_id = "replayWebhookEvents",
    tag = "Webhooks",
    params(EndpointPath),
    request_body(content = Option<ReplayRequest>, description = "Optional."),
    responses(
        (status = 202, description = "Queued (at most 10,000; `complete` says whether more remain).", body = ReplayResponse),
        (status = 400, description = "`since` is not a date-time.", body = ErrorResponse),
        (status = 403, description = "The key may not read some of the event types the endpoint receives.", body = ErrorResponse),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse),
        (status = 409, description = "The endpoint is disabled: enable it first.", body = ErrorResponse),
    )
)]
pub async fn replay_events(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    let mut fields = Fields::new(body.parse_or_empty()?.object);
    let since = fields.optional_string("since", None).and_then(|text| {
        let parsed = Timestamp::parse_rfc3339(&text);
        if parsed.is_none() {
            fields.problem("since must be an RFC 3339 date-time (2024-01-15T07:00:00Z)");
        }
        parsed
    });
    fields.finish()?;
    let endpoint = state
        .store
        .get_webhook_endpoint(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    check_readable(&endpoint.event_types, caller.scopes)?;
    if !endpoint.enabled {
        // A disabled endpoint takes nothing; its backlog may not grow while it is off.
        return Err(ApiError::Conflict(
            "the endpoint is disabled; enable it (PATCH enabled: true) before replaying".into(),
        ));
    }
    let queued = state
        .store
        .replay_webhook_events(&caller.workspace_id, &id, since, MAX_REPLAY_EVENTS)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    state.webhooks.wake.notify_one();
    Ok(json_response(
        StatusCode::ACCEPTED,
        &ReplayResponse {
            queued,
            complete: queued < u64::from(MAX_REPLAY_EVENTS),
        },
    ))
}

/// List an endpoint's deliveries, newest first, each with its attempts. Needs
/// `webhooks:manage`.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "Webhooks",
    params(EndpointPath, PageQuery),
    responses(
        (status = 200, description = "A page of deliveries.", body = Page<DeliveryObject>),
        (status = 400, description = "A paging value is invalid.", body = ErrorResponse),
        (status = 404, description = "No such endpoint in this workspace.", body = ErrorResponse),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let id = endpoint_id(id)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let (deliveries, total) = state
        .store
        .list_webhook_deliveries(&caller.workspace_id, &id, page)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let items: Vec<DeliveryObject> = deliveries
        .into_iter()
        .map(|d| DeliveryObject::new(d, &state.sealing_key, &caller.workspace_id))
        .collect();
    Ok(page_response(items, total, page))
}

/// Queue a delivery again, due now, with a fresh retry schedule; its attempts are kept.
/// Needs `webhooks:manage`.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
    operation_id = "retryWebhookDelivery",
    tag = "Webhooks",
    params(DeliveryPath),
    responses(
        (status = 202, description = "Queued.", body = DeliveryObject),
        (status = 404, description = "No such endpoint or delivery in this workspace.", body = ErrorResponse),
    )
)]
pub async fn retry_delivery(
    State(state): State<AppState>,
    auth: Authenticated,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::WebhooksManage)?;
    let Ok(Path((endpoint, delivery))) = ids else {
        return Err(ApiError::NotFound(NOT_FOUND));
    };
    let endpoint = WebhookEndpointId::parse(&endpoint).ok_or(ApiError::NotFound(NOT_FOUND))?;
    let delivery =
        WebhookDeliveryId::parse(&delivery).ok_or(ApiError::NotFound(DELIVERY_NOT_FOUND))?;
    let delivery = state
        .store
        .retry_webhook_delivery(&caller.workspace_id, &endpoint, &delivery)
        .await?
        .ok_or(ApiError::NotFound(DELIVERY_NOT_FOUND))?;
    state.webhooks.wake.notify_one();
    Ok(json_response(
        StatusCode::ACCEPTED,
        &DeliveryObject::new(delivery, &state.sealing_key, &caller.workspace_id),
    ))
}
