//! Handlers, one module per resource, and the lists the router serves and the OpenAPI
//! document describes: both are built from [`v1_routes`] and [`public_routes`], so a route
//! cannot exist undocumented.

pub mod agents;
pub mod api_keys;
pub mod calls;
pub mod carriers;
pub mod catalogue;
pub mod events;
pub mod health;
pub mod phone_numbers;
pub mod reports;
pub mod sign_in;
pub mod users;
pub mod webhooks;

use switchboard_server::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route of the API under `/v1`, the ones behind the key check, each with the OpenAPI
/// operation its handler declares; the router and the OpenAPI document are both built from
/// this one list. The paths are written whole: a router nested at `/v1` would rewrite every
/// request's URI to strip the prefix.
pub fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(phone_numbers::list_phone_numbers))
        .routes(routes!(phone_numbers::search_available))
        .routes(routes!(phone_numbers::search_available_any_provider))
        .routes(routes!(phone_numbers::purchase))
        .routes(routes!(phone_numbers::link_sip_trunk))
        .routes(routes!(phone_numbers::bulk_update_phone_numbers))
        .routes(routes!(
            phone_numbers::get_phone_number,
            phone_numbers::update_phone_number,
            phone_numbers::release_phone_number
        ))
        .routes(routes!(phone_numbers::phone_number_history))
        .routes(routes!(phone_numbers::preview_route))
        .routes(routes!(reports::summarize_phone_numbers))
        .routes(routes!(reports::lookup_phone_number))
        .routes(routes!(reports::review_compliance))
        .routes(routes!(reports::export_phone_numbers))
        .routes(routes!(events::list_events))
        .routes(routes!(calls::list_calls))
        .routes(routes!(calls::get_call))
        .routes(routes!(agents::list_agents, agents::create_agent))
        .routes(routes!(
            agents::get_agent,
            agents::update_agent,
            agents::delete_agent
        ))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(api_keys::current_key))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user, users::delete_user))
        .routes(routes!(users::list_user_sessions))
        .routes(routes!(users::sign_out_user))
        .routes(routes!(users::end_user_session))
        .routes(routes!(webhooks::list_endpoints, webhooks::create_endpoint))
        .routes(routes!(
            webhooks::get_endpoint,
            webhooks::update_endpoint,
            webhooks::delete_endpoint
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::test_endpoint))
        .routes(routes!(webhooks::replay_events))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(catalogue::list_pricing))
        .routes(routes!(catalogue::list_countries))
        .routes(routes!(catalogue::list_enabled_network_groups))
}

/// Routes anyone may call: health, readiness and metrics (the OpenAPI document adds its own),
/// the carriers' voice webhooks, which their own signatures authenticate, and signing in.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(carriers::twilio::twilio_voice))
        .routes(routes!(carriers::twilio::twilio_dial_result))
        .routes(routes!(carriers::twilio::twilio_status))
        .routes(routes!(carriers::telnyx::telnyx_voice))
        .routes(routes!(carriers::telnyx::telnyx_dial_result))
        .routes(routes!(carriers::telnyx::telnyx_status))
        .routes(routes!(carriers::plivo::plivo_voice))
        .routes(routes!(carriers::plivo::plivo_dial_result))
        .routes(routes!(carriers::plivo::plivo_status))
        .routes(routes!(sign_in::sign_in))
        .routes(routes!(sign_in::sign_out))
        .routes(routes!(sign_in::set_password))
        .routes(routes!(sign_in::sign_in_methods))
        .routes(routes!(sign_in::oidc_login))
        .routes(routes!(sign_in::oidc_callback))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}
