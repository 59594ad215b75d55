//! What a connection may cost the server: how long it may sit idle between requests, how
//! long a reader may stall a response, and the polite refusal a connection over the cap gets.
//!
//! How long a request head may take is hyper's `header_read_timeout`, set by the accept
//! loop; hyper starts that clock whenever it waits for a head, including on a
//! kept-alive connection after a response. [`IdleTimeout`] adds a shorter bound for that
//! idle wait alone, and a bound on a client that stops reading a response.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The requests of one connection whose responses are not yet fully written: counted up when
/// a request reaches the service, down when hyper drops its response body (written, or the
/// connection gone). While it is above zero the connection is not idle.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts a request until the returned guard is dropped.
    pub fn start(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(self.0.clone())
    }

    fn is_empty(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

/// One request in flight; see [`InFlight`].
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its request's [`InFlightGuard`] until hyper drops it.
pub struct TrackedBody {
    inner: axum::body::Body,
    _guard: InFlightGuard,
}

impl TrackedBody {
    pub fn new(inner: axum::body::Body, guard: InFlightGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that reads as closed once it has been idle — no response being written, and no
/// byte of a next request since the last one — for longer than `keep_alive`; hyper takes that
/// end of input on an idle connection as the client leaving and closes it. While a request is
/// read or handled, or its response written however slowly, the connection is not idle: a
/// slow handler is the request timeout's business, and a slow reader the write stall's. A
/// write that makes no progress for `write_stall` fails the connection.
#[derive(Debug)]
pub struct IdleTimeout<T> {
    inner: T,
    keep_alive: Duration,
    write_stall: Duration,
    in_flight: InFlight,
    /// Set by a write (a response going out); cleared by a read that brings bytes.
    wrote: bool,
    /// When the last write went out: the idle time counts from there.
    last_write: Instant,
    /// Moved to `last_write + keep_alive` only when an idle wait polls it: resetting a timer
    /// on every write takes the timer wheel's lock once per write instead of once per wait.
    deadline: Pin<Box<Sleep>>,
    /// Running while a write waits for the client to take bytes.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> IdleTimeout<T> {
    pub fn new(inner: T, keep_alive: Duration, write_stall: Duration, in_flight: InFlight) -> Self {
        Self {
            inner,
            keep_alive,
            write_stall,
            in_flight,
            wrote: false,
            last_write: Instant::now(),
            deadline: Box::pin(tokio::time::sleep(keep_alive)),
            stalled: None,
        }
    }

    fn wrote(&mut self) {
        self.wrote = true;
        self.stalled = None;
        self.last_write = Instant::now();
    }

    /// Whether the connection has been idle for `keep_alive` since its last write; while it
    /// has not, the deadline wakes this task when it will have.
    fn idle_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        let due = self.last_write + self.keep_alive;
        if self.deadline.deadline() != due {
            self.deadline.as_mut().reset(due);
        }
        self.deadline.as_mut().poll(cx).is_ready()
    }

    /// A write could not go out: fails once the client has taken nothing for `write_stall`.
    fn write_pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let stall = self.write_stall;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took no byte of the response in time",
            )));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.wrote = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.wrote && self.in_flight.is_empty() && self.idle_too_long(cx) => {
                // Nothing read: hyper sees the end of input on an idle connection.
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.wrote();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => self.write_pending(cx),
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.wrote();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => self.write_pending(cx),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.write_pending(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The body of the answer a connection over the cap gets: the API's envelope.
const TOO_MANY_CONNECTIONS: &str = r#"{"statusCode":503,"message":"The server has too many open connections; try again shortly","error":"Service Unavailable"}"#;

/// The whole answer a connection over the cap gets: a 503 with `Retry-After`, then the
/// connection is closed.
fn busy_answer() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: application/json; charset=utf-8\r\n\
         retry-after: 1\r\n\
         connection: close\r\n\
         content-length: {}\r\n\r\n{TOO_MANY_CONNECTIONS}",
        TOO_MANY_CONNECTIONS.len()
    )
}

/// Answers a connection over the cap and closes it, within a second or two whatever the
/// client does. What the client already sent is read and dropped first, so that closing
/// does not reset the connection before the client has read the answer.
pub async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    let answer = async {
        stream.write_all(busy_answer().as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let drain = async {
            while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}

#[cfg(test)]
mod tests {
    use super::busy_answer;

    #[test]
    fn the_busy_answer_counts_its_body() {
        let answer = busy_answer();
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("content-length");
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["statusCode"], 503);
    }
}
