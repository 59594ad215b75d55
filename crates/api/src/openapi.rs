//! The OpenAPI 3.1 document of the API, generated from the handlers' own `#[utoipa::path]`
//! annotations and the types they serialize, collected from the same route lists the router
//! serves ([`crate::routes`]), so a route cannot exist undocumented.
//!
//! What every authenticated route shares (the bearer scheme, 401/403/429/500/503, and for
//! routes that take input 400/413) is added here once rather than on each handler.

use serde_json::{Value, json};
use std::sync::LazyLock;
use switchboard_server::AppState;
use switchboard_server::ErrorResponse;
use switchboard_server::limits::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, MAX_URI_BYTES};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder,
    Type,
};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Phone numbers for voice-AI agents: search, buy, link over SIP trunks, route to agents, release. \
                       A self-hosted implementation of DialNexa's organization phone-number API (v1); \
                       a DialNexa client works against it unchanged.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "Phone Numbers", description = "The workspace's numbers, the catalogue to buy from, and buying."),
        (name = "Agents", description = "The agents numbers route calls to."),
        (name = "API Keys", description = "Keys of the workspace and their scopes."),
        (name = "Webhooks", description = "Signed, retried deliveries of the workspace's events to its endpoints (Standard Webhooks)."),
        (name = "Users", description = "The people who sign in to the console, their roles and their sessions."),
        (name = "Sign-in", description = "The console's sign-in with an email address and password: a session cookie, not for programs (they use API keys)."),
        (name = "Calls", description = "The call log: every inbound call, where it went and how it ended."),
        (name = "Carriers", description = "What carriers call when a number rings, authenticated by their own signatures (no key)."),
        (name = "Operations", description = "Health, readiness, metrics and this document; no key needed."),
    ),
)]
struct Skeleton;

/// The whole document, built once. Which operations need a key is read off the router's
/// own split: the routes behind its authentication layer, and the public ones.
pub fn document() -> &'static Document {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
        let mut secured = crate::routes::v1_routes().into_openapi();
        let mut public = crate::routes::public_routes()
            .merge(routes())
            .into_openapi();
        for operation in operations(&mut secured) {
            operation.security = Some(vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::new("session", Vec::<String>::new()),
            ]);
            add_shared_responses(operation);
        }
        for operation in operations(&mut public) {
            operation.security = Some(Vec::new());
        }
        let mut document = Skeleton::openapi();
        document.merge(secured);
        document.merge(public);
        add_components(&mut document);
        document
    });
    &DOCUMENT
}

fn operations(document: &mut Document) -> impl Iterator<Item = &mut Operation> {
    document.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    })
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut text = serde_json::to_string_pretty(document()).unwrap_or_else(|error| {
            // Only a non-string map key could fail here, and the document has none.
            panic!("the OpenAPI document does not serialize: {error}")
        });
        text.push('\n');
        text
    });
    &JSON
}

/// The bearer scheme, and the error envelope the shared responses refer to.
fn add_components(document: &mut Document) {
    let components = document
        .components
        .get_or_insert_with(|| ComponentsBuilder::new().build());
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("<key_id>:<secret>")
                .description(Some(
                    "`Authorization: Bearer <key_id>:<secret>`, as printed by `switchboard workspace create` or `POST /v1/api-keys`.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
            utoipa::openapi::security::ApiKeyValue::with_description(
                switchboard_server::sessions::SESSION_COOKIE,
                "The console's session, set by `POST /auth/login`. A person holds their role's scopes (viewer: phone_numbers:read, agents:read, calls:read; operator: also phone_numbers:write, agents:write; admin: every scope). A request that changes something must also send `X-CSRF-Token` with the value of the `switchboard_csrf` cookie.",
            ),
        )),
    );
    // Handlers name it in their own error responses, but the shared ones below need it too.
    let mut schemas = Vec::new();
    <ErrorResponse as ToSchema>::schemas(&mut schemas);
    schemas.push((
        ErrorResponse::name().into_owned(),
        <ErrorResponse as utoipa::PartialSchema>::schema(),
    ));
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

fn add_shared_responses(operation: &mut Operation) {
    let takes_input = operation.request_body.is_some()
        || operation.parameters.as_ref().is_some_and(|parameters| {
            parameters
                .iter()
                .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
        });
    let responses = &mut operation.responses.responses;
    for (status, response) in &mut *responses {
        if status.starts_with('2')
            && let RefOr::T(response) = response
        {
            for (name, description) in [
                (
                    "X-RateLimit-Limit",
                    "Requests a minute this key may make (absent when rate limits are off).",
                ),
                (
                    "X-RateLimit-Remaining",
                    "Requests left in the current window.",
                ),
                (
                    "X-RateLimit-Reset",
                    "Unix time (seconds) at which the key has its whole budget again.",
                ),
            ] {
                response
                    .headers
                    .entry(name.to_owned())
                    .or_insert_with(|| integer_header(description));
            }
        }
    }
    let mut shared: Vec<(&str, Response)> = vec![
        (
            "401",
            error_response(
                "No usable API key (missing, malformed, unknown, revoked or expired) or session (ended, lapsed, or its person removed).",
                json!({"statusCode": 401, "message": "API key is missing or invalid", "error": "Unauthorized"}),
            ),
        ),
        (
            "403",
            error_response(
                "The key, or the person's role, lacks the scope this route needs; or a session's change came without `X-CSRF-Token` or from another site.",
                json!({"statusCode": 403, "message": "You do not have permission to access this resource", "error": "Forbidden"}),
            ),
        ),
        ("429", {
            let mut response = error_response(
                "The key spent its rate budget; retry after `Retry-After` seconds.",
                json!({"statusCode": 429, "message": "Too many requests. Please slow down and retry after a moment.", "error": "Too Many Requests"}),
            );
            response.headers.insert(
                "Retry-After".to_owned(),
                integer_header("Seconds until the next request is allowed."),
            );
            response
        }),
        (
            "500",
            error_response(
                "A bug or an unexpected failure; the cause is logged, never sent.",
                json!({"statusCode": 500, "message": "Internal server error", "error": "Internal Server Error"}),
            ),
        ),
        (
            "503",
            error_response(
                "The database is unreachable, or the request ran past the server's time limit; retry.",
                json!({"statusCode": 503, "message": "Service temporarily unavailable, please retry", "error": "Service Unavailable"}),
            ),
        ),
    ];
    shared.push((
        "414",
        error_response(
            "The path and query are longer than 8 KiB.",
            json!({"statusCode": 414, "message": format!("request URI is longer than {MAX_URI_BYTES} bytes"), "error": "URI Too Long"}),
        ),
    ));
    shared.push((
        "431",
        error_response(
            "The headers are larger than 16 KiB in all.",
            json!({"statusCode": 431, "message": format!("request headers are larger than {MAX_HEADER_BYTES} bytes or more than {MAX_HEADERS} in number"), "error": "Request Header Fields Too Large"}),
        ),
    ));
    if takes_input {
        shared.push((
            "400",
            error_response(
                "Invalid input: one message per problem, each naming its field.",
                json!({"statusCode": 400, "message": "request body is not valid JSON: expected value at line 1 column 1", "error": "Bad Request"}),
            ),
        ));
    }
    if operation.request_body.is_some() {
        shared.push((
            "413",
            error_response(
                "The body is larger than 64 KiB.",
                json!({"statusCode": 413, "message": format!("request body is larger than {MAX_BODY_BYTES} bytes"), "error": "Payload Too Large"}),
            ),
        ));
    }
    let responses = &mut operation.responses.responses;
    for (status, response) in shared {
        responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    }
}

fn error_response(description: &str, example: Value) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .example(Some(example))
                .build(),
        )
        .build()
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer))
        .description(Some(description))
        .build()
}

/// The route that serves the document; public, like health.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(utoipa_axum::routes!(serve_document))
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "Operations",
    responses((status = 200, description = "This document.", content_type = "application/json", body = Object))
)]
pub async fn serve_document() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            switchboard_server::json::JSON_CONTENT_TYPE,
        )],
        document_json(),
    )
        .into_response()
}
