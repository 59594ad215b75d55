//! `/v1/api-keys`: create (the raw key shown once), list (never a secret), revoke.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Fields, JsonBody};
use crate::json::json_response;
use crate::router::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use switchboard_domain::{ApiKeyId, ApiKeySecret, Scope, Scopes, Timestamp};
use switchboard_store::NewApiKey;

const NOT_FOUND: &str = "API key not found";
const NAME_MAX_CHARS: usize = 255;
/// `expire_now: false` gives the other keys this long before they stop working.
const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

fn scope_names(scopes: Scopes) -> Vec<&'static str> {
    scopes.iter().map(Scope::as_str).collect()
}

pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::ApiKeysManage)?;
    let mut fields = Fields::new(body.object);
    let name = fields.required_string("name", None);
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > NAME_MAX_CHARS)
    {
        fields.problem(format!(
            "name must be shorter than or equal to {NAME_MAX_CHARS} characters"
        ));
    }
    let scopes = match fields.optional_string_list("scopes") {
        None => Some(caller.scopes),
        Some(list) => match list
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<Result<Scopes, _>>()
        {
            Ok(scopes) if !scopes.is_empty() => Some(scopes),
            Ok(_) => {
                fields.problem("scopes should not be empty");
                None
            }
            Err(e) => {
                fields.problem(format!("scopes: {e}"));
                None
            }
        },
    };
    let expire_now = fields.optional_bool("expire_now", None);
    fields.finish()?;
    let (Some(name), Some(scopes)) = (name, scopes) else {
        return Err(ApiError::Internal(
            "validation passed without values".into(),
        ));
    };
    // A key can never hand out more than it holds.
    if scopes.iter().any(|scope| !caller.scopes.contains(scope)) {
        return Err(ApiError::Forbidden);
    }
    let now = Timestamp::now();
    let expire_others_at = expire_now.map(|now_please| {
        if now_please {
            now
        } else {
            Timestamp::from_millis(now.as_millis() + ROTATION_GRACE_MS)
        }
    });
    let id = ApiKeyId::generate();
    let secret = ApiKeySecret::generate();
    state
        .store
        .create_api_key(NewApiKey {
            id: id.clone(),
            workspace_id: caller.workspace_id.clone(),
            name: name.clone(),
            secret_digest: secret.digest(),
            scopes,
            expires_at: None,
            expire_others_at,
        })
        .await?;
    if expire_now == Some(true) {
        // Expired keys must stop here at once, not after the cache's second.
        state.keys.evict_all();
    }
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "id": id.as_str(),
            "name": name,
            "scopes": scope_names(scopes),
            "api_key": secret.token(&id).expose(),
            "created_at": now.to_string(),
            "expires_at": null,
        }),
    ))
}

pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::ApiKeysManage)?;
    let now = Timestamp::now();
    let keys = state.store.list_api_keys(&caller.workspace_id).await?;
    let items: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|key| {
            json!({
                "id": key.id.as_str(),
                "name": key.name,
                "scopes": scope_names(key.scopes),
                "created_at": key.created_at.to_string(),
                "last_used_at": key.last_used_at.map(|t| t.to_string()),
                "expires_at": key.expires_at.map(|t| t.to_string()),
                "is_expired": key.expires_at.is_some_and(|at| at <= now),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::ApiKeysManage)?;
    let id = id
        .ok()
        .and_then(|Path(id)| ApiKeyId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    if !state
        .store
        .revoke_api_key(&caller.workspace_id, &id)
        .await?
    {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    state.keys.evict(&id);
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "API key revoked."}),
    ))
}
