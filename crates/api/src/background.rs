//! The service as a whole: the HTTP server with what runs beside it on every replica — the
//! webhook delivery worker, and once a minute the housekeeping (idle rate-limit entries,
//! purchases a crash interrupted, old webhook deliveries, calls past their retention), and each
//! `--reconcile-interval` the reconcile with the carriers. On the shutdown signal the server
//! stops accepting while the worker finishes or hands back the attempts in flight.

use std::time::Duration;
use switchboard_server::{AppState, ServeOptions};
use tokio::net::TcpListener;

/// Serves the API on `listener` with its background work until `shutdown` completes
/// (see [`switchboard_server::shutdown_signal`]), then drains both.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = state.clone();
    let housekeeping = tokio::spawn(async move {
        // The first tick is immediate: claims left by a crash are swept at start.
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            background.rate_limits.forget_idle();
            crate::claims::sweep_stale_claims(&background, crate::claims::ORDER_SETTLE_AGE).await;
            background.webhooks.prune_old_deliveries().await;
            forget_old_calls(&background).await;
        }
    });
    let reconciling = state
        .reconcile_interval
        .filter(|_| {
            state
                .providers
                .ids()
                .into_iter()
                .filter_map(|id| state.providers.get(id))
                .any(|p| p.lists_held_numbers())
        })
        .map(|interval| tokio::spawn(crate::reconcile::run_periodically(state.clone(), interval)));
    let (stop_webhooks, webhooks_stopped) = tokio::sync::watch::channel(false);
    let webhook_worker = tokio::spawn(switchboard_webhooks::run_worker(
        state.webhooks.clone(),
        webhooks_stopped,
    ));
    // The webhook worker stops taking deliveries when the signal comes, and finishes or hands
    // back the ones in flight while the connections drain.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_webhooks.send(true);
    };
    let served = switchboard_server::serve(listener, crate::router(state), options, shutdown).await;
    housekeeping.abort();
    if let Some(reconciling) = reconciling {
        reconciling.abort();
    }
    if let Err(error) = webhook_worker.await {
        tracing::warn!(%error, "the webhook worker ended abnormally");
    }
    served
}

/// Deletes the calls older than the retention period: a caller's number is personal data.
async fn forget_old_calls(state: &AppState) {
    let retention = i64::try_from(state.calls.retention.as_millis()).unwrap_or(i64::MAX);
    let before = switchboard_domain::Timestamp::from_millis(
        switchboard_domain::Timestamp::now()
            .as_millis()
            .saturating_sub(retention),
    );
    match state.store.delete_calls_before(before).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "calls past their retention deleted"),
        Err(error) => tracing::warn!(%error, "could not delete calls past their retention"),
    }
}
