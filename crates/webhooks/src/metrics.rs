//! The worker's metrics, recorded through the process's `metrics` recorder (the server
//! installs it and renders it at `GET /metrics`).

/// A webhook attempt's outcome: `delivered`, `retrying` or `failed`.
pub(crate) fn attempt_finished(outcome: &'static str) {
    metrics::counter!("webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// The webhook queue as the store last counted it (every replica reports the same queue).
pub(crate) fn queue_measured(stats: switchboard_store::QueueStats) {
    metrics::gauge!("webhook_queue_depth").set(stats.pending as f64);
    let age = stats.oldest_pending_created_at.map_or(0.0, |created| {
        (switchboard_domain::Timestamp::now().as_millis() - created.as_millis()).max(0) as f64
            / 1000.0
    });
    metrics::gauge!("webhook_oldest_pending_age_seconds").set(age);
}
