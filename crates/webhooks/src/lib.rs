//! Webhook delivery: Standard Webhooks signatures, the checks that keep endpoints off private
//! networks, and the worker that takes due deliveries from the store's queue and posts them.
//! A background service beside the store, not an HTTP handler: the API's routes only save
//! endpoints, queue deliveries and wake the worker.
//!
//! Each replica runs one worker ([`run_worker`]). It leases due deliveries (see
//! [`WebhookStore::lease_webhook_deliveries`](switchboard_store::WebhookStore)), posts each
//! with a timeout, records the attempt and schedules the next one with backoff and jitter. A
//! lease outlives an attempt by [`LEASE_MARGIN`], so a worker that dies mid-delivery leaves
//! it to another within that time; on SIGTERM the worker lets attempts in flight finish for
//! up to one attempt timeout and hands back the rest at once.
//!
//! Modules, each using only those listed before it: [`settings`], [`signing`], [`address`],
//! `metrics`, [`delivery`] (one attempt), [`worker`] (the loop).
#![forbid(unsafe_code)]

pub mod address;
pub mod delivery;
mod metrics;
pub mod settings;
pub mod signing;
pub mod worker;

pub use address::{check_endpoint_url, forbidden_address, redacted_url};
pub use delivery::Webhooks;
pub use settings::{
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_RETRY_SCHEDULE, DELIVERY_RETENTION, DISABLE_AFTER,
    LEASE_MARGIN, RetrySchedule, WebhookSettings, parse_schedule,
};
pub use signing::{generate_secret, public_message_id, sign};
pub use worker::run_worker;
