//! `/v1/api-keys`: create (the raw key shown once), list (never a secret), revoke.

use crate::auth::Authenticated;
use crate::extract::{Fields, JsonBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchboard_domain::{ApiKeyId, ApiKeySecret, Scope, Scopes, Timestamp};
use switchboard_server::ApiError;
use switchboard_server::AppState;
use switchboard_server::ErrorResponse;
use switchboard_server::json::{MessageBody, json_response, message_response};
use switchboard_server::rate_limit::Principal;
use switchboard_store::{ApiKeySummary, NewApiKey};
use utoipa::{IntoParams, ToSchema};

const NOT_FOUND: &str = "API key not found";
const NAME_MAX_CHARS: usize = 255;
/// `expire_now: false` gives the other keys this long before they stop working.
const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// A key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyObject {
    #[schema(example = "k7d2m9x4q1z3b8")]
    id: String,
    #[schema(example = "deploy bot")]
    name: String,
    #[schema(value_type = Vec<String>, example = json!(["phone_numbers:read", "phone_numbers:write"]))]
    scopes: Vec<&'static str>,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    /// Updated at most once a minute.
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    expires_at: Option<String>,
    is_expired: bool,
}

impl ApiKeyObject {
    /// A key as the list shows it at `now`: the API's list and `switchboard key list` alike.
    pub fn listed(key: ApiKeySummary, now: Timestamp) -> Self {
        Self {
            id: key.id.as_str().to_owned(),
            name: key.name,
            scopes: scope_names(key.scopes),
            created_at: key.created_at.to_string(),
            last_used_at: key.last_used_at.map(|t| t.to_string()),
            expires_at: key.expires_at.map(|t| t.to_string()),
            is_expired: key.expires_at.is_some_and(|at| at <= now),
        }
    }
}

/// A key just created: the only answer that holds its secret (so it has no derived `Debug`).
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
pub struct CreatedApiKey {
    #[schema(example = "k7d2m9x4q1z3b8")]
    id: String,
    #[schema(example = "deploy bot")]
    name: String,
    #[schema(value_type = Vec<String>, example = json!(["phone_numbers:read"]))]
    scopes: Vec<&'static str>,
    /// `<id>:<secret>`, for `Authorization: Bearer`. Shown once; store it now.
    #[schema(example = "k7d2m9x4q1z3b8:5f0a3b9e2d4c6a8b1f0e3d5c7a9b2d4f")]
    api_key: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    /// Always null: keys made here do not expire on their own.
    #[schema(required = true, format = DateTime)]
    expires_at: Option<String>,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct CreateApiKeyRequest {
    /// Not blank, and one line: no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "deploy bot"
    )]
    name: String,
    /// At most the caller's own scopes; the caller's scopes when absent.
    #[schema(value_type = Option<Vec<ScopeName>>, min_items = 1, example = json!(["phone_numbers:read"]))]
    scopes: Option<Vec<String>>,
    /// Rotation: `true` expires every other key of the workspace now, `false` in 24 hours —
    /// only the keys whose scopes are a subset of the calling key's.
    expire_now: Option<bool>,
}

/// What a key may do.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code, reason = "documents the scope names")]
pub enum ScopeName {
    #[serde(rename = "phone_numbers:read")]
    PhoneNumbersRead,
    #[serde(rename = "phone_numbers:write")]
    PhoneNumbersWrite,
    #[serde(rename = "agents:read")]
    AgentsRead,
    #[serde(rename = "agents:write")]
    AgentsWrite,
    #[serde(rename = "api_keys:manage")]
    ApiKeysManage,
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    #[serde(rename = "calls:read")]
    CallsRead,
}

/// The `id` path parameter of a key.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "documents the path; the handler turns every bad id into the same 404"
)]
pub struct ApiKeyPath {
    /// Key id: 14 lowercase letters or digits.
    #[param(example = "k7d2m9x4q1z3b8")]
    id: String,
}

fn scope_names(scopes: Scopes) -> Vec<&'static str> {
    scopes.iter().map(Scope::as_str).collect()
}

/// Create an API key. Needs `api_keys:manage`; a key can only hand out scopes it holds.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "createApiKey",
    tag = "API Keys",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; `api_key` is shown this once.", body = CreatedApiKey),
        (status = 400, description = "`name` or `scopes` is invalid.", body = ErrorResponse),
        (status = 409, description = "The workspace holds 100 live keys, the most it may: revoke one first.", body = ErrorResponse),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::ApiKeysManage)?;
    let mut fields = Fields::new(body.parse()?.object);
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
            expire_others_within: caller.scopes,
            actor: caller.actor(),
        })
        .await?;
    if expire_now == Some(true) {
        // Expired keys must stop here at once, not after the cache's second.
        state.keys.evict_all();
    }
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedApiKey {
            id: id.as_str().to_owned(),
            name,
            scopes: scope_names(scopes),
            api_key: secret.token(&id).expose().to_owned(),
            created_at: now.to_string(),
            expires_at: None,
        },
    ))
}

/// List the workspace's API keys, without secrets. Needs `api_keys:manage`.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "listApiKeys",
    tag = "API Keys",
    responses(
        (status = 200, description = "Every key of the workspace.", body = Vec<ApiKeyObject>),
    )
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::ApiKeysManage)?;
    let now = Timestamp::now();
    let keys = state.store.list_api_keys(&caller.workspace_id).await?;
    let items: Vec<ApiKeyObject> = keys
        .into_iter()
        .map(|key| ApiKeyObject::listed(key, now))
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

/// Revoke an API key; the next request with it is a 401. Needs `api_keys:manage`, and only
/// keys whose scopes are a subset of the calling key's can be revoked (403 otherwise).
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "revokeApiKey",
    tag = "API Keys",
    params(ApiKeyPath),
    responses(
        (status = 200, description = "Revoked.", body = MessageBody),
        (status = 403, description = "The key lacks `api_keys:manage`, or the key to revoke has a scope the calling key lacks.", body = ErrorResponse),
        (status = 404, description = "No such key in this workspace.", body = ErrorResponse,
            example = json!({"statusCode": 404, "message": "API key not found", "error": "Not Found"})),
    )
)]
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
    // A key may only revoke keys that can do no more than it can: otherwise a key holding
    // just `api_keys:manage` could take away a full-scope key.
    match state.store.find_api_key(&id).await? {
        Some(target) if target.workspace_id == caller.workspace_id => {
            if !target.scopes.is_subset_of(caller.scopes) {
                return Err(ApiError::ForbiddenBecause(
                    "This key may only revoke keys whose scopes are a subset of its own".into(),
                ));
            }
        }
        _ => return Err(ApiError::NotFound(NOT_FOUND)),
    }
    if !state
        .store
        .revoke_api_key(&caller.workspace_id, &id, &caller.actor())
        .await?
    {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    state.keys.evict(&id);
    Ok(message_response("API key revoked."))
}

/// The calling key and its workspace, as `GET /v1/me` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentKey {
    /// The calling key; `null` for a signed-in person.
    #[schema(required = true)]
    key: Option<CurrentKeyIdentity>,
    /// The signed-in person; `null` for a key.
    #[schema(required = true)]
    user: Option<CurrentUser>,
    workspace: CurrentWorkspace,
    /// The number providers this server buys from (`telephonyProviderId`s), the default for
    /// searches first.
    #[schema(example = json!(["twilio", "sandbox"]))]
    providers: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentKeyIdentity {
    #[schema(example = "k7d2m9x4q1z3b8")]
    id: String,
    #[schema(example = "deploy bot")]
    name: String,
    #[schema(value_type = Vec<String>, example = json!(["phone_numbers:read"]))]
    scopes: Vec<&'static str>,
}

/// A signed-in person and what their role lets them do.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentUser {
    #[schema(example = "usr_4k9m2x7q1z3b")]
    id: String,
    #[schema(example = "ann@example.com")]
    email: String,
    /// `viewer`, `operator` or `admin`.
    #[schema(example = "operator")]
    role: &'static str,
    /// The scopes the role holds.
    #[schema(value_type = Vec<String>, example = json!(["phone_numbers:read", "phone_numbers:write"]))]
    scopes: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentWorkspace {
    #[schema(example = "ws_4f9c2a7b1d3e")]
    id: String,
    #[schema(example = "Acme")]
    name: String,
    /// ISO 3166-1 alpha-2 codes of the countries it may buy and link numbers in.
    #[schema(example = json!(["GB", "US"]))]
    countries: Vec<String>,
    /// Needed to buy or link numbers in countries whose rules require KYC.
    kyc_verified: bool,
}

/// Who is calling (ext): the key's id, name and scopes, or the signed-in person's id, email,
/// role and scopes; the workspace's name, enabled countries and KYC state; and the providers
/// numbers can be bought from. Any live key or session may ask, whatever its scopes; the web
/// console uses it to sign in and to show as unavailable what the caller cannot do.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getCurrentKey",
    tag = "API Keys",
    responses((status = 200, description = "The calling key or person, and the workspace.", body = CurrentKey))
)]
pub async fn current_key(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let caller = auth.any_scope();
    let workspace = state
        .store
        .get_workspace(&caller.workspace_id)
        .await?
        .ok_or_else(|| ApiError::Internal("a live caller's workspace is missing".into()))?;
    let (key, user) = match (&caller.principal, caller.role) {
        (Principal::User(id), Some(role)) => (
            None,
            Some(CurrentUser {
                id: id.to_string(),
                email: caller.label.clone(),
                role: role.as_str(),
                scopes: scope_names(caller.scopes),
            }),
        ),
        _ => (
            Some(CurrentKeyIdentity {
                id: caller.principal.to_string(),
                name: caller.label.clone(),
                scopes: scope_names(caller.scopes),
            }),
            None,
        ),
    };
    Ok(json_response(
        StatusCode::OK,
        &CurrentKey {
            key,
            user,
            workspace: CurrentWorkspace {
                id: workspace.id.as_str().to_owned(),
                name: workspace.name,
                countries: workspace.enabled_countries,
                kyc_verified: workspace.kyc_verified,
            },
            providers: {
                let default = state.providers.default_provider().map(|p| p.id());
                default
                    .into_iter()
                    .chain(
                        state
                            .providers
                            .ids()
                            .into_iter()
                            .filter(|id| Some(*id) != default),
                    )
                    .collect()
            },
        },
    ))
}
