//! One delivery attempt: sign, post, judge the answer, and record it under this replica's lease.

use crate::address::{PublicOnlyResolver, forbidden_address, literal_address};
use crate::settings::{DELIVERY_RETENTION, DISABLE_AFTER, LEASE_MARGIN, WebhookSettings};
use crate::signing::{public_message_id, sign};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_domain::{SealingKey, Timestamp};
use switchboard_store::{AttemptResult, DeliveryAttempt, LeasedDelivery, Store, StoreError};
use tokio::sync::Notify;

/// How much of an endpoint's answer is kept with the attempt.
const RESPONSE_EXCERPT_BYTES: usize = 512;

/// What a replica needs to deliver webhooks: the store's queue, the key that opens signing
/// secrets, its HTTP client and its name on the leases. One `Arc`, cloned into each attempt.
#[derive(Clone, Debug)]
pub struct Webhooks(Arc<Runtime>);

impl std::ops::Deref for Webhooks {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.0
    }
}

/// The parts of [`Webhooks`].
#[derive(Debug)]
pub struct Runtime {
    pub(crate) store: Arc<dyn Store>,
    sealing_key: SealingKey,
    pub settings: WebhookSettings,
    /// This process's name on the leases it takes.
    pub owner: String,
    client: reqwest::Client,
    /// Wakes the worker before its next poll (a retry was queued).
    pub wake: Notify,
}

impl Webhooks {
    pub fn new(store: Arc<dyn Store>, sealing_key: SealingKey, settings: WebhookSettings) -> Self {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnlyResolver {
                allow_loopback: settings.allow_loopback,
            }))
            // A redirect could lead anywhere; a 3xx is a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the address checks.
            .no_proxy()
            .timeout(settings.attempt_timeout)
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            // Only a TLS set-up failure can stop this (rustls with built-in roots reads no
            // system configuration). A default client instead would drop the address checks
            // above, so the process stops rather than deliver without them.
            .expect("the webhook HTTP client must build");
        let owner = format!("{}-{:08x}", std::process::id(), rand::rng().random::<u32>());
        Self(Arc::new(Runtime {
            store,
            sealing_key,
            settings,
            owner,
            client,
            wake: Notify::new(),
        }))
    }

    fn lease_length(&self) -> Duration {
        self.settings.attempt_timeout + LEASE_MARGIN
    }

    pub fn lease_until(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_millis(now.as_millis() + self.lease_length().as_millis() as i64)
    }

    /// Posts one leased delivery and says what it leads to; records nothing.
    pub async fn attempt(&self, leased: &LeasedDelivery) -> (DeliveryAttempt, AttemptResult) {
        let started_at = Timestamp::now();
        let started = Instant::now();
        let outcome = self.post(leased).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let (status_code, response_excerpt, error) = match outcome {
            Ok((status, excerpt)) => {
                let error = (!(200..300).contains(&status))
                    .then(|| format!("the endpoint answered {status}"));
                (Some(status), Some(excerpt), error)
            }
            Err(error) => (None, None, Some(error)),
        };
        let result = if error.is_none() {
            AttemptResult::Delivered
        } else if leased.delivery.event_type == "ping" {
            AttemptResult::Failed
        } else {
            match self
                .settings
                .retry_schedule
                .0
                .get(leased.delivery.attempt_count as usize)
            {
                Some(delay) => AttemptResult::RetryAt(Timestamp::from_millis(
                    started_at.as_millis() + with_jitter(*delay).as_millis() as i64,
                )),
                None => AttemptResult::Failed,
            }
        };
        crate::metrics::attempt_finished(match result {
            AttemptResult::Delivered => "delivered",
            AttemptResult::RetryAt(_) => "retrying",
            AttemptResult::Failed => "failed",
        });
        let attempt = DeliveryAttempt {
            at: started_at.as_millis(),
            status_code,
            duration_ms,
            response_excerpt,
            error,
        };
        (attempt, result)
    }

    /// The POST: status and the start of the answer's body, or why there was none.
    async fn post(&self, leased: &LeasedDelivery) -> Result<(u16, String), String> {
        let sealing_key = &self.sealing_key;
        let url = reqwest::Url::parse(&leased.url).map_err(|e| format!("invalid url: {e}"))?;
        // Literal addresses skip the resolver; check them here.
        if let Some(reason) =
            literal_address(&url).and_then(|ip| forbidden_address(ip, self.settings.allow_loopback))
        {
            return Err(format!("refused: the url's address is {reason}"));
        }
        let timestamp = Timestamp::now().as_millis() / 1000;
        let message_id = &public_message_id(
            sealing_key,
            &leased.workspace_id,
            &leased.delivery.message_id,
        );
        let mut signatures = Vec::new();
        for sealed in std::iter::once(&leased.secret_sealed).chain(&leased.previous_secret_sealed) {
            let secret = sealing_key
                .open(sealed)
                .map_err(|e| format!("cannot open the signing secret: {e}"))?;
            let secret = String::from_utf8(secret).map_err(|_| "the signing secret is damaged")?;
            signatures.push(
                sign(&secret, message_id, timestamp, &leased.body)
                    .ok_or("the signing secret is damaged")?,
            );
        }
        let mut response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(leased.body.clone())
            .send()
            .await
            .map_err(|e| describe_error(&e.without_url(), self.settings.attempt_timeout))?;
        let status = response.status().as_u16();
        let mut excerpt = Vec::new();
        while excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                // The status is what counts; a body cut short or slow is not a failure.
                Ok(None) | Err(_) => break,
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT_BYTES);
        Ok((status, String::from_utf8_lossy(&excerpt).into_owned()))
    }

    /// Records an attempt made under this replica's lease.
    pub async fn record(
        &self,
        leased: &LeasedDelivery,
        attempt: DeliveryAttempt,
        result: AttemptResult,
    ) -> Result<bool, StoreError> {
        self.store
            .finish_webhook_attempt(
                &leased.delivery.id,
                &self.owner,
                attempt,
                result,
                DISABLE_AFTER.as_millis() as i64,
            )
            .await
    }

    /// Deletes deliveries that ended more than [`DELIVERY_RETENTION`] ago; run by housekeeping.
    pub async fn prune_old_deliveries(&self) {
        let before = Timestamp::from_millis(
            Timestamp::now().as_millis() - DELIVERY_RETENTION.as_millis() as i64,
        );
        match self.store.prune_webhook_deliveries(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "deleted webhook deliveries older than 30 days"),
            Err(error) => tracing::warn!(%error, "cannot prune old webhook deliveries"),
        }
    }
}

/// `delay` ± 20 %, so that retries of many deliveries that failed together spread out.
fn with_jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.8..1.2))
}

/// Why a POST failed, without the URL (its query may hold the receiver's token; the
/// delivery names its endpoint anyway).
fn describe_error(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f64());
    }
    // reqwest's own message is "error sending request"; the cause says what happened.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
