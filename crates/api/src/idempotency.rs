//! `Idempotency-Key` (SPEC §5, ext): a retried request with the same key and body gets the
//! first response again, without doing the work twice; the same key with another body is a
//! 422. Keys are per workspace and remembered for 24 hours, in the database, so replays work
//! across replicas.

use crate::auth::Caller;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use switchboard_server::ApiError;
use switchboard_server::AppState;
use switchboard_store::IdempotencyClaim;

const MAX_KEY_LEN: usize = 255;

/// Runs `work` at most once per (workspace, Idempotency-Key). Without the header, just runs it.
/// Responses below 500 are kept for replay; after a 5xx the key is let go so a retry can
/// succeed.
pub async fn with_idempotency<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    operation: &str,
    body: &[u8],
    work: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let Some(key) = headers.get("idempotency-key") else {
        return work().await;
    };
    let key = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        })?
        .to_owned();
    let digest: [u8; 32] = Sha256::new()
        .chain_update(operation.as_bytes())
        .chain_update([0])
        .chain_update(body)
        .finalize()
        .into();
    match state
        .store
        .claim_idempotency_key(&caller.workspace_id, &key, digest)
        .await?
    {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::Replay { status, body } => return Ok(replay(status, body)),
        IdempotencyClaim::InProgress => {
            return Err(ApiError::Conflict(
                "A request with this Idempotency-Key is still in progress".into(),
            ));
        }
        IdempotencyClaim::Mismatch => {
            return Err(ApiError::Unprocessable(
                "Idempotency-Key was already used with a different request".into(),
            ));
        }
    }
    let response = match work().await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let status = response.status();
    if status.is_server_error() {
        if let Err(error) = state
            .store
            .release_idempotency_key(&caller.workspace_id, &key)
            .await
        {
            tracing::error!(%error, "could not release an Idempotency-Key after a failure");
        }
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    state
        .store
        .complete_idempotency_key(&caller.workspace_id, &key, status.as_u16(), bytes.to_vec())
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(switchboard_server::json::JSON_CONTENT_TYPE),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
