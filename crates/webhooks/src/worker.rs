//! The replica's delivery worker: leases due deliveries from the store's queue, posts them
//! concurrently within each workspace's and endpoint's share, and records what finished in
//! batches.

use crate::address::redacted_url;
use crate::delivery::Webhooks;
use crate::settings::DISABLE_AFTER;
use std::time::{Duration, Instant};
use switchboard_domain::{Timestamp, WebhookDeliveryId};
use switchboard_store::{
    AttemptResult, DeliveryAttempt, FinishedAttempt, InFlight, LeasedDelivery,
};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often an idle worker looks for due deliveries.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Attempts one replica makes at once.
const MAX_IN_FLIGHT: usize = 32;
/// How often the queue's depth and age are measured for the metrics.
const STATS_INTERVAL: Duration = Duration::from_secs(5);

/// An attempt made, to be recorded with the others that finished with it.
type Finished = (LeasedDelivery, DeliveryAttempt, AttemptResult);

/// Runs the replica's delivery worker until `stop` turns true; then lets attempts in flight
/// finish for up to one attempt timeout and hands back the leases of the rest.
///
/// Attempts run concurrently; the loop records the ones that finished together in one write
/// ([`WebhookStore::finish_webhook_attempts`](switchboard_store::WebhookStore)): on SQLite
/// that is one transaction and one sync for a batch instead of one per delivery, which both
/// drains faster and leaves the write lock free for other processes most of the time.
pub async fn run_worker(webhooks: Webhooks, mut stop: watch::Receiver<bool>) {
    let runtime = &webhooks;
    let mut in_flight: JoinSet<Finished> = JoinSet::new();
    // What is in flight by workspace and endpoint: each lease keeps them to their share.
    let mut busy = InFlight::default();
    let mut last_stats: Option<Instant> = None;
    while !*stop.borrow() {
        if last_stats.is_none_or(|at| at.elapsed() >= STATS_INTERVAL) {
            last_stats = Some(Instant::now());
            match webhooks.store.webhook_queue_stats().await {
                Ok(stats) => crate::metrics::queue_measured(stats),
                Err(error) => tracing::warn!(%error, "cannot measure the webhook queue"),
            }
        }
        record_finished(&webhooks, &mut busy, &mut in_flight, None).await;
        let free = MAX_IN_FLIGHT - in_flight.len();
        let mut leased = Vec::new();
        if free > 0 {
            let now = Timestamp::now();
            match webhooks
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
            let webhooks = webhooks.clone();
            in_flight.spawn(async move {
                let (attempt, result) = webhooks.attempt(&delivery).await;
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
        record_finished(&webhooks, &mut busy, &mut in_flight, first).await;
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
            record_finished(&webhooks, &mut busy, &mut in_flight, Some(finished)).await;
        }
    })
    .await;
    if finished.is_err() {
        in_flight.abort_all();
    }
    match webhooks.store.release_webhook_leases(&runtime.owner).await {
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
    webhooks: &Webhooks,
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
    match webhooks
        .store
        .finish_webhook_attempts(&webhooks.owner, finished, DISABLE_AFTER.as_millis() as i64)
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
