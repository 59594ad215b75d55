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

/// Serves on `listener` until `shutdown` completes (see [`shutdown_signal`]), then drains.
/// Returns once every connection has closed or the drain timeout has passed.
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
            crate::claims::sweep_stale_claims(&background).await;
        }
    });
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        shutdown.await;
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

/// A future that completes on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when the future is first polled: call it before announcing the server, so a
/// signal that arrives right after the announcement drains instead of killing the process.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
