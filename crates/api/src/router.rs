//! The application: every route with its layers. Requests enter at [`router`]'s outer layers
//! (request id, log line, head limits), `/v1` routes pass [`guard_v1`] (key, rate budget,
//! timeout) and reach their handler in [`crate::routes`].

use crate::auth::authenticate;
use crate::routes::v1_routes;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, OriginalUri};
use axum::http::Method;
use switchboard_server::limits::MAX_BODY_BYTES;
use switchboard_server::metrics::{tag_response, tag_route};
use switchboard_server::request_log::{drop_unfit_request_id, log_request};
use switchboard_server::{ApiError, AppState};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// Few layers, and those composed by one `ServiceBuilder` per place they apply: every
/// `Router::layer` call boxes the routes again and every `from_fn` middleware boxes the rest
/// of the stack per request, and that boxing, cloned and polled on every request, was a fifth
/// of a GET's CPU (bench/RESULTS.md, "Where a GET's time goes").
pub fn router(state: AppState) -> Router {
    let v1 = v1_routes()
        // Only on matched routes: an unknown path is a 404 whatever the key. Outermost first.
        .route_layer(
            ServiceBuilder::new()
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    guard_v1,
                )),
        );
    let (routes, _) = v1
        .merge(
            crate::routes::public_routes()
                .merge(crate::openapi::routes())
                .route_layer(axum::middleware::from_fn(tag_route)),
        )
        .split_for_parts();
    let routes =
        routes.merge(crate::console::routes().route_layer(axum::middleware::from_fn(tag_route)));
    routes
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Outermost first: unfit request ids are dropped, then the request id is set, so the
        // log line and every response, errors included, carry it.
        .layer(
            ServiceBuilder::new()
                .map_request(drop_unfit_request_id)
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(log_request)),
        )
}

/// Every `/v1` route: tags the response with the route for the log line and metrics, marks
/// it `no-store` (it is a workspace's data, fetched with a key: no cache, the browser's
/// included, keeps a copy; exports included), and stops a request (key check included) that
/// runs past `request_timeout` with a 503 in the envelope. Work already handed to the
/// database finishes on its own; a purchase cut short this way leaves at most a claim, which
/// the stale-claim sweep releases.
async fn guard_v1(
    state: axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let timeout = state.request_timeout;
    let mut response = match tokio::time::timeout(timeout, authenticate(state, request, next)).await
    {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::TimedOut),
    };
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    tag_response(route, response)
}

async fn route_not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
