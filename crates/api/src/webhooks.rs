//! Webhook delivery: Standard Webhooks signatures, the checks that keep endpoints off private
//! networks, and the worker that takes due deliveries from the store's queue and posts them.
//!
//! Each replica runs one worker. It leases due deliveries (see
//! [`WebhookStore::lease_webhook_deliveries`](switchboard_store::WebhookStore)), posts each
//! with a timeout, records the attempt and schedules the next one with backoff and jitter. A
//! lease outlives an attempt by [`LEASE_MARGIN`], so a worker that dies mid-delivery leaves
//! it to another within that time; on SIGTERM the worker lets attempts in flight finish for
//! up to one attempt timeout and hands back the rest at once.

use crate::router::AppState;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_domain::WebhookDeliveryId;
use switchboard_domain::{SealingKey, Timestamp, WorkspaceId};
use switchboard_store::{
    AttemptResult, DeliveryAttempt, FinishedAttempt, InFlight, LeasedDelivery, StoreError,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// The schedule of retries after a failed attempt: the delay before each.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
/// A 2xx must arrive within this long.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// An endpoint whose every attempt has failed for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 60 * 60);
/// Deliveries that ended (delivered or failed) are kept this long, then deleted.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long a lease outlives its attempt's timeout.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// How often an idle worker looks for due deliveries.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Attempts one replica makes at once.
const MAX_IN_FLIGHT: usize = 32;
/// How much of an endpoint's answer is kept with the attempt.
const RESPONSE_EXCERPT_BYTES: usize = 512;
/// How often the queue's depth and age are measured for the metrics.
const STATS_INTERVAL: Duration = Duration::from_secs(5);

/// How webhooks are delivered; the command line fills it from flags.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Local development: endpoints may be loopback addresses, over `http` too.
    pub allow_loopback: bool,
    pub attempt_timeout: Duration,
    /// The delay before each retry; after the last, the delivery fails.
    pub retry_schedule: RetrySchedule,
}

/// The delays before each retry of a failed delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap_or_default(),
        }
    }
}

/// Parses `5s,5m,30m,2h`: each a whole number of seconds, minutes or hours.
pub fn parse_schedule(text: &str) -> Result<RetrySchedule, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (number, unit) = part.split_at(part.len().saturating_sub(1));
            let seconds = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => return Err(format!("{part:?}: give each delay as a number with s, m or h (\"30s\", \"5m\", \"2h\")")),
            };
            number
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| Duration::from_secs(n * seconds))
                .ok_or_else(|| format!("{part:?}: a delay is a whole number above 0 with s, m or h"))
        })
        .collect::<Result<_, _>>()
        .map(RetrySchedule)
}

/// What a replica needs to deliver webhooks.
#[derive(Debug)]
pub struct WebhookRuntime {
    pub settings: WebhookSettings,
    /// This process's name on the leases it takes.
    pub owner: String,
    client: reqwest::Client,
    /// Wakes the worker before its next poll (a retry was queued).
    pub wake: Notify,
}

impl WebhookRuntime {
    pub fn new(settings: WebhookSettings) -> Self {
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
        Self {
            settings,
            owner,
            client,
            wake: Notify::new(),
        }
    }

    fn lease_length(&self) -> Duration {
        self.settings.attempt_timeout + LEASE_MARGIN
    }

    pub fn lease_until(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_millis(now.as_millis() + self.lease_length().as_millis() as i64)
    }
}

/// A signing secret: `whsec_` and the base64 of 32 random bytes, as Standard Webhooks
/// libraries expect it.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    format!("whsec_{}", BASE64.encode(key))
}

/// `v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed with the secret's
/// decoded bytes. `None` for a secret that is not `whsec_` and base64.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = BASE64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// The `webhook-id` receivers see for a delivery's stored message id (`evt_<seq>` for an
/// event): the same for every attempt and replay of one event to the workspace, and the same
/// as the event's `id` in the change feed, without the sequence number, which would count
/// other workspaces' events.
pub fn public_message_id(key: &SealingKey, workspace: &WorkspaceId, message_id: &str) -> String {
    key.public_id("evt_", workspace.as_str(), message_id)
}

/// Why an address may not receive webhooks, if it may not: anything that is not a public
/// unicast address (private, loopback, link-local — where cloud metadata services answer —,
/// shared, multicast, reserved, documentation), checked inside IPv4-mapped IPv6 too.
/// `allow_loopback` lets loopback through, for local development.
pub fn forbidden_address(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return (!allow_loopback).then_some("a loopback address");
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_private() {
                Some("a private address")
            } else if v4.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a shared (carrier-grade NAT) address")
            } else if v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
            {
                Some("a reserved address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // An IPv4 address carried inside: 6to4 (2002:AABB:CCDD::/48) and the well-known
            // NAT64 prefix (64:ff9b::/96) reach it, so it must be public itself.
            let embedded = match segments {
                [0x2002, high, low, ..] => {
                    Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)))
                }
                [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
                    Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)))
                }
                _ => None,
            };
            if let Some(v4) = embedded {
                return forbidden_address(IpAddr::V4(v4), false)
                    .map(|_| "an IPv6 address that carries a non-public IPv4 address");
            }
            if v6.is_unique_local() {
                Some("a private address")
            } else if v6.is_unicast_link_local() || segments[0] & 0xffc0 == 0xfec0 {
                // fe80::/10, and the deprecated site-local fec0::/10.
                Some("a link-local address")
            } else if v6.is_unspecified()
                || v6.is_multicast()
                // ::/96 (IPv4-compatible, deprecated) and ::ffff:0:0/96 (IPv4-translated):
                // both name an IPv4 host some stacks still reach.
                || segments[..6] == [0, 0, 0, 0, 0, 0]
                || segments[..6] == [0, 0, 0, 0, 0xffff, 0]
                // 100::/64: discard-only.
                || segments[..4] == [0x100, 0, 0, 0]
                // 2001::/23: IETF protocol assignments, Teredo (2001::/32) among them;
                // 2001:db8::/32: documentation.
                || segments[0] == 0x2001 && (segments[1] < 0x200 || segments[1] == 0xdb8)
            {
                Some("a reserved address")
            } else if segments[..2] == [0x64, 0xff9b] {
                // 64:ff9b:1::/48, local-use NAT64: translates to whatever the network chose.
                Some("a NAT64 address")
            } else {
                None
            }
        }
    }
}

/// Resolves names for deliveries and refuses every name with a forbidden address among its
/// answers, at connection time: a name that resolved to a public address when the endpoint
/// was saved cannot be pointed at a private one later (DNS rebinding).
#[derive(Debug)]
struct PublicOnlyResolver {
    allow_loopback: bool,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(reason) = addresses
                .iter()
                .find_map(|a| forbidden_address(a.ip(), allow_loopback))
            {
                return Err(format!("{host} resolves to {reason}").into());
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// The URL's host when it is an IP address (`[…]` for IPv6).
fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// Checks an endpoint URL before it is saved: `https` (or `http` to loopback when
/// `allow_loopback`), a host, and no forbidden address among what the host resolves to now.
/// A name that does not resolve yet is accepted; every delivery checks again. Answers the URL
/// as it is stored and used: normalised by the URL parser.
pub async fn check_endpoint_url(url: &str, allow_loopback: bool) -> Result<String, String> {
    const MAX_URL_LEN: usize = 2048;
    if url.len() > MAX_URL_LEN {
        return Err(format!("url must be at most {MAX_URL_LEN} characters"));
    }
    // The URL parser drops tabs and line breaks without a word; refuse them (and every other
    // control character) instead, so what is stored is what was meant.
    if url.chars().any(char::is_control) {
        return Err("url must not contain control characters (line breaks, tabs, escapes)".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url is not a valid URL: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("url must have a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // They would be stored and shown in clear; the signature is how a receiver knows
        // the sender.
        return Err(
            "url must not contain a user name or password; receivers verify the signature instead"
                .into(),
        );
    }
    let literal = literal_address(&parsed);
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match (literal, parsed.host_str()) {
        (Some(ip), _) => vec![ip],
        (None, Some(name)) => {
            let lookup = tokio::net::lookup_host((name.trim_end_matches('.'), port));
            match tokio::time::timeout(Duration::from_secs(3), lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
        (None, None) => Vec::new(),
    };
    let loopback_only = !addresses.is_empty() && addresses.iter().all(IpAddr::is_loopback);
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_only => {}
        "http" if allow_loopback => {
            return Err("url must use https (http is allowed for loopback addresses only)".into());
        }
        "http" if loopback_only => {
            return Err(
                "url must use https; for a receiver on this machine during development, \
                 start the server with --webhooks-allow-loopback"
                    .into(),
            );
        }
        _ => return Err("url must use https".into()),
    }
    if let Some(reason) = addresses
        .iter()
        .find_map(|ip| forbidden_address(*ip, allow_loopback))
    {
        return Err(format!(
            "url must point at a public address; {} is {reason}",
            parsed.host_str().unwrap_or_default()
        ));
    }
    Ok(parsed.to_string())
}

/// An endpoint URL as the logs show it: without its query, where receivers put tokens.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.query().is_some() {
                parsed.set_query(Some("redacted"));
            }
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "(invalid url)".into(),
    }
}

/// Posts one leased delivery and says what it leads to; records nothing.
pub async fn attempt(
    state: &AppState,
    leased: &LeasedDelivery,
) -> (DeliveryAttempt, AttemptResult) {
    let runtime = &state.webhooks;
    let started_at = Timestamp::now();
    let started = Instant::now();
    let outcome = post(runtime, &state.sealing_key, leased).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status_code, response_excerpt, error) = match outcome {
        Ok((status, excerpt)) => {
            let error =
                (!(200..300).contains(&status)).then(|| format!("the endpoint answered {status}"));
            (Some(status), Some(excerpt), error)
        }
        Err(error) => (None, None, Some(error)),
    };
    let result = if error.is_none() {
        AttemptResult::Delivered
    } else if leased.delivery.event_type == "ping" {
        AttemptResult::Failed
    } else {
        match runtime
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
    crate::metrics::webhook_attempt(match result {
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

/// `delay` ± 20 %, so that retries of many deliveries that failed together spread out.
fn with_jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.8..1.2))
}

/// The POST: status and the start of the answer's body, or why there was none.
async fn post(
    runtime: &WebhookRuntime,
    sealing_key: &SealingKey,
    leased: &LeasedDelivery,
) -> Result<(u16, String), String> {
    let url = reqwest::Url::parse(&leased.url).map_err(|e| format!("invalid url: {e}"))?;
    // Literal addresses skip the resolver; check them here.
    if let Some(reason) =
        literal_address(&url).and_then(|ip| forbidden_address(ip, runtime.settings.allow_loopback))
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
    let mut response = runtime
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(leased.body.clone())
        .send()
        .await
        .map_err(|e| describe_error(&e.without_url(), runtime.settings.attempt_timeout))?;
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

/// Records an attempt made under this replica's lease.
pub async fn record(
    state: &AppState,
    leased: &LeasedDelivery,
    attempt: DeliveryAttempt,
    result: AttemptResult,
) -> Result<bool, StoreError> {
    state
        .store
        .finish_webhook_attempt(
            &leased.delivery.id,
            &state.webhooks.owner,
            attempt,
            result,
            DISABLE_AFTER.as_millis() as i64,
        )
        .await
}

/// Deletes deliveries that ended more than [`DELIVERY_RETENTION`] ago; run by housekeeping.
pub async fn prune_old_deliveries(state: &AppState) {
    let before = Timestamp::from_millis(
        Timestamp::now().as_millis() - DELIVERY_RETENTION.as_millis() as i64,
    );
    match state.store.prune_webhook_deliveries(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "deleted webhook deliveries older than 30 days"),
        Err(error) => tracing::warn!(%error, "cannot prune old webhook deliveries"),
    }
}

/// An attempt made, to be recorded with the others that finished with it.
type Finished = (LeasedDelivery, DeliveryAttempt, AttemptResult);

/// Runs the replica's delivery worker until `stop` turns true; then lets attempts in flight
/// finish for up to one attempt timeout and hands back the leases of the rest.
///
/// Attempts run concurrently; the loop records the ones that finished together in one write
/// ([`WebhookStore::finish_webhook_attempts`](switchboard_store::WebhookStore)): on SQLite
/// that is one transaction and one sync for a batch instead of one per delivery, which both
/// drains faster and leaves the write lock free for other processes most of the time.
pub async fn run_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    let runtime = &state.webhooks;
    let mut in_flight: JoinSet<Finished> = JoinSet::new();
    // What is in flight by workspace and endpoint: each lease keeps them to their share.
    let mut busy = InFlight::default();
    let mut last_stats: Option<Instant> = None;
    while !*stop.borrow() {
        if last_stats.is_none_or(|at| at.elapsed() >= STATS_INTERVAL) {
            last_stats = Some(Instant::now());
            match state.store.webhook_queue_stats().await {
                Ok(stats) => crate::metrics::webhook_queue(stats),
                Err(error) => tracing::warn!(%error, "cannot measure the webhook queue"),
            }
        }
        record_finished(&state, &mut busy, &mut in_flight, None).await;
        let free = MAX_IN_FLIGHT - in_flight.len();
        let mut leased = Vec::new();
        if free > 0 {
            let now = Timestamp::now();
            match state
                .store
                .lease_webhook_deliveries(
                    &runtime.owner,
                    now,
                    runtime.lease_until(now),
                    free as u32,
                    &busy,
                )
                .await
            {
                Ok(found) => leased = found,
                Err(error) => tracing::warn!(%error, "cannot take webhook deliveries"),
            }
        }
        let took_some = !leased.is_empty();
        for delivery in leased {
            busy.add(&delivery);
            let state = state.clone();
            in_flight.spawn(async move {
                let (attempt, result) = attempt(&state, &delivery).await;
                if let Some(error) = &attempt.error {
                    tracing::info!(delivery = %delivery.delivery.id, url = %redacted_url(&delivery.url), error = %error.escape_debug(), "webhook attempt failed");
                }
                (delivery, attempt, result)
            });
        }
        let first = if took_some && in_flight.len() < MAX_IN_FLIGHT {
            // More may be due right away (this poll was capped, or a later event of a
            // subject becomes due when an earlier one is delivered).
            tokio::select! {
                finished = in_flight.join_next(), if !in_flight.is_empty() => finished,
                () = tokio::time::sleep(Duration::from_millis(20)) => None,
            }
        } else {
            tokio::select! {
                _ = stop.changed() => None,
                () = runtime.wake.notified() => None,
                finished = in_flight.join_next(), if !in_flight.is_empty() => finished,
                () = tokio::time::sleep(POLL_INTERVAL) => None,
            }
        };
        record_finished(&state, &mut busy, &mut in_flight, first).await;
    }
    let grace = runtime.settings.attempt_timeout;
    if !in_flight.is_empty() {
        tracing::info!(
            in_flight = in_flight.len(),
            "finishing webhook attempts in flight"
        );
    }
    let finished = tokio::time::timeout(grace, async {
        while let Some(finished) = in_flight.join_next().await {
            record_finished(&state, &mut busy, &mut in_flight, Some(finished)).await;
        }
    })
    .await;
    if finished.is_err() {
        in_flight.abort_all();
    }
    match state.store.release_webhook_leases(&runtime.owner).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "handed back webhook deliveries in flight"),
        Err(error) => {
            tracing::warn!(%error, "cannot hand back webhook leases; they expire on their own")
        }
    }
}

/// Records `first` (if any) and every other attempt that has finished, in one write, and
/// takes them off what is in flight.
async fn record_finished(
    state: &AppState,
    busy: &mut InFlight,
    in_flight: &mut JoinSet<Finished>,
    first: Option<Result<Finished, tokio::task::JoinError>>,
) {
    let mut batch = Vec::new();
    for joined in first
        .into_iter()
        .chain(std::iter::from_fn(|| in_flight.try_join_next()))
    {
        match joined {
            Ok(finished) => {
                busy.remove(&finished.0);
                batch.push(finished);
            }
            // A panicked attempt cannot say what it was: forget the counts rather than keep
            // a share taken for ever (its lease expires and the delivery is repeated).
            Err(error) => {
                tracing::error!(%error, "a webhook attempt ended abnormally");
                *busy = InFlight::default();
            }
        }
    }
    if batch.is_empty() {
        return;
    }
    let ids: Vec<WebhookDeliveryId> = batch.iter().map(|(d, ..)| d.delivery.id.clone()).collect();
    let finished = batch
        .into_iter()
        .map(|(delivery, attempt, result)| FinishedAttempt {
            id: delivery.delivery.id,
            attempt,
            result,
        })
        .collect();
    match state
        .store
        .finish_webhook_attempts(
            &state.webhooks.owner,
            finished,
            DISABLE_AFTER.as_millis() as i64,
        )
        .await
    {
        Ok(recorded) => {
            for (id, recorded) in ids.iter().zip(recorded) {
                if !recorded {
                    tracing::warn!(delivery = %id, "webhook lease lost before the attempt was recorded; another worker repeats it");
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, deliveries = ids.len(), "cannot record webhook attempts; their leases expire and they are repeated")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_like_the_specification() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("not-a-secret", "m", 1, "{}"), None);
    }

    #[test]
    fn generated_secrets_are_whsec_and_32_bytes() {
        let secret = generate_secret();
        let key = BASE64
            .decode(secret.strip_prefix("whsec_").expect("prefix"))
            .expect("base64");
        assert_eq!(key.len(), 32);
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn only_public_addresses_receive() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "::7f00:1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "100::1",
        ] {
            let ip: IpAddr = private.parse().expect("address");
            assert!(forbidden_address(ip, false).is_some(), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "2002:5db8:d822::1",
            "64:ff9b::5db8:d822",
        ] {
            let ip: IpAddr = public.parse().expect("address");
            assert_eq!(forbidden_address(ip, false), None, "{public}");
        }
        let loopback: IpAddr = "127.0.0.1".parse().expect("address");
        assert_eq!(forbidden_address(loopback, true), None);
        let private: IpAddr = "10.0.0.1".parse().expect("address");
        assert!(forbidden_address(private, true).is_some());
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("5s, 5m,2h"),
            Ok(RetrySchedule(vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ]))
        );
        for bad in ["", "5", "0s", "5d", "-1s", "s"] {
            assert!(parse_schedule(bad).is_err(), "{bad:?}");
        }
        assert_eq!(WebhookSettings::default().retry_schedule.0.len(), 7);
    }

    #[tokio::test]
    async fn endpoint_urls_are_checked() {
        for (url, allow_loopback) in [
            ("http://example.com/hook", false),
            ("https://10.0.0.5/hook", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://127.0.0.1:8443/", false),
            ("https://localhost/", false),
            ("http://127.0.0.1:9000/", false),
            ("http://10.0.0.5/", true),
            ("https://[::1]/", false),
            ("https://user:secret@93.184.216.34/hook", false),
            ("ftp://example.com/", false),
            ("not a url", false),
        ] {
            assert!(
                check_endpoint_url(url, allow_loopback).await.is_err(),
                "{url} (loopback allowed: {allow_loopback})"
            );
        }
        for (url, allow_loopback) in [
            ("https://93.184.216.34/hook", false),
            ("http://127.0.0.1:9000/hook", true),
            ("https://127.0.0.1:9000/hook", true),
        ] {
            assert_eq!(
                check_endpoint_url(url, allow_loopback).await.as_deref(),
                Ok(url),
                "{url}"
            );
        }
        for forged in [
            "https://93.184.216.34/hook\nINFO forged line",
            "https://93.184.216.34/\u{1b}[31mred",
            "https://93.184.216.34/a\tb",
        ] {
            assert!(
                check_endpoint_url(forged, false)
                    .await
                    .is_err_and(|e| e.contains("control characters")),
                "{forged:?}"
            );
        }
        assert_eq!(
            check_endpoint_url("https://93.184.216.34:443/a b?x=1", false).await,
            Ok("https://93.184.216.34/a%20b?x=1".to_owned())
        );
        let plain = check_endpoint_url("http://127.0.0.1:9000/", false).await;
        assert!(
            plain
                .as_ref()
                .is_err_and(|e| e.contains("--webhooks-allow-loopback")),
            "{plain:?}"
        );
    }

    #[test]
    fn logged_urls_leave_out_the_query() {
        assert_eq!(
            redacted_url("https://example.com/hook?token=s3cret#frag"),
            "https://example.com/hook?redacted"
        );
        assert_eq!(
            redacted_url("https://example.com/hook"),
            "https://example.com/hook"
        );
    }
}
