//! Handlers, one module per resource.

pub mod agents;
pub mod api_keys;
pub mod catalogue;
pub mod events;
pub mod health;
pub mod phone_numbers;
pub mod reports;
pub mod webhooks;
