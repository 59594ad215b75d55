//! The server loop: serve until SIGTERM or Ctrl-C, then stop accepting and let in-flight
//! requests finish, for a bounded time.

use crate::router::{AppState, router};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves on `listener` until a shutdown signal, then drains. Returns once every connection
/// has closed or the drain timeout has passed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
) -> std::io::Result<()> {
    let rate_limits = state.rate_limits.clone();
    let housekeeping = tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            rate_limits.forget_idle();
        }
    });
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        let _ = signalled_tx.send(());
    });
    let drain_deadline = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(options.drain_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = server.into_future() => result,
        () = drain_deadline => {
            tracing::warn!(timeout_s = options.drain_timeout.as_secs(), "drain timed out; exiting with requests still open");
            Ok(())
        }
    };
    housekeeping.abort();
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
