//! The accept loop: serve an application until a shutdown signal, then stop accepting and
//! let in-flight requests finish, for a bounded time. What runs beside it (the webhook
//! worker, housekeeping) is the caller's.

use crate::auth_throttle::ClientAddr;
use crate::connection::{IdleTimeout, InFlight, TrackedBody, refuse_busy};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// How long a request head may take to arrive in full, counted from when the server
    /// starts waiting for it: on a new connection, from the connect; on a kept-alive one,
    /// from the previous response. A connection that runs out of it is closed.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit idle after a response before it is closed
    /// (at most `header_read_timeout`, which also bounds that wait).
    pub keep_alive_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a client may take no byte of a response before its connection is closed
    /// (a slow reader of a long export is fine; one that stopped reading is not).
    pub write_stall_timeout: Duration,
}

pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a client may accept no byte of a response before the connection is closed.
pub const DEFAULT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(30),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes (see [`shutdown_signal`]), then stops
/// accepting and drains. Returns once every connection has closed or the drain timeout has
/// passed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        // Our own limit (100) answers in the API's envelope; hyper's bodiless 431 is only
        // for heads far past it.
        .max_headers(crate::limits::HYPER_MAX_HEADERS);
    let keep_alive = options.keep_alive_timeout.min(options.header_read_timeout);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        // Small JSON answers: send them now, not after Nagle's delay.
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            crate::metrics::connection_refused();
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        let in_flight = InFlight::default();
        let io = TokioIo::new(IdleTimeout::new(
            stream,
            keep_alive,
            options.write_stall_timeout,
            in_flight.clone(),
        ));
        // Each request learns its client's address (for throttling failed authentication),
        // and counts as in flight until its response is written: the keep-alive timer
        // only runs between requests.
        let service = tower::service_fn({
            let app = app.clone();
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ClientAddr(peer));
                let guard = in_flight.start();
                let response = app.clone().oneshot(request);
                async move {
                    let response = response.await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| axum::body::Body::new(TrackedBody::new(body, guard))),
                    )
                }
            }
        });
        let connection =
            connections.watch(http.serve_connection(io, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            let _open = crate::metrics::GaugeGuard::connection();
            // Errors here are the client's (a reset, a head too slow or too large): the
            // connection is over either way, and there is no one to tell.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    // Closing the listener refuses new connections at once; the open ones finish the
    // request they are on and close.
    drop(listener);
    tracing::info!("shutdown signal received; finishing in-flight requests");
    if tokio::time::timeout(options.drain_timeout, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_s = options.drain_timeout.as_secs(),
            "drain timed out; exiting with requests still open"
        );
    }
    Ok(())
}

/// An accept that failed. Most failures are one connection's (reset before it was
/// accepted) and the next accept is fine; running out of file descriptors is not, and
/// retrying at once would spin, so the loop waits a moment (as hyper 0.14 and axum do).
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
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
