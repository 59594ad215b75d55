//! Handlers, one module per resource.

pub mod health;
pub mod phone_numbers;
