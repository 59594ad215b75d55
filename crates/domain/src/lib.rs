//! Switchboard's domain: the values every other crate passes around, with their rules.
//!
//! Nothing here does I/O. Each type can only hold a valid value, so code that receives one
//! never re-checks it.
#![forbid(unsafe_code)]

mod calls;
mod destination;
mod ids;
mod keys;
mod money;
mod people;
mod phone;
pub mod routing;
mod scope;
mod sealing;
mod time_fmt;

pub use calls::CallOutcome;
pub use destination::{DESTINATION_MAX_LEN, Destination, DestinationError, DestinationKind};
pub use ids::{
    AgentId, ApiKeyId, CallId, PhoneNumberId, SessionId, UserId, WebhookDeliveryId,
    WebhookEndpointId, WorkspaceId,
};
pub use keys::{ApiKeySecret, ApiToken, RevealedToken, SecretDigest, TokenError};
pub use money::{Money, MoneyError};
pub use people::{
    Email, EmailError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordDigest, PasswordError, Role,
    RoleError,
};
pub use phone::{
    Capabilities, CapabilitiesError, E164, NICKNAME_MAX_CHARS, NumberStatus, NumberType,
    PhoneNumber, PhoneNumberError, UnknownValue, is_e164_form, is_phone_region,
    load_phone_metadata,
};
pub use routing::{RoutePlan, RouteTarget, RoutingPolicy, RoutingProblems, plan_route};
pub use scope::{Scope, ScopeError, Scopes};
pub use sealing::{SealingError, SealingKey};
pub use time_fmt::Timestamp;
