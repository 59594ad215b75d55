//! What a connection may cost the server: how long it may sit idle between requests, and
//! the polite refusal a connection over the cap gets.
//!
//! How long a request head may take is hyper's `header_read_timeout`, set in
//! [`crate::server`]; hyper starts that clock whenever it waits for a head, including on a
//! kept-alive connection after a response. [`IdleTimeout`] adds a shorter bound for that
//! idle wait alone.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A socket that reads as closed once it has been idle — a response written and no byte of
/// a next request since — for longer than `keep_alive`. hyper takes that end of input on an
/// idle connection as the client leaving and closes it. While a request is being read or
/// handled the socket is not idle, whatever the time: a slow handler is the request
/// timeout's business.
#[derive(Debug)]
pub struct IdleTimeout<T> {
    inner: T,
    keep_alive: Duration,
    /// Set by a write (a response going out); cleared by a read that brings bytes.
    idle: bool,
    deadline: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    pub fn new(inner: T, keep_alive: Duration) -> Self {
        Self {
            inner,
            keep_alive,
            idle: false,
            deadline: Box::pin(tokio::time::sleep(keep_alive)),
        }
    }

    fn wrote(&mut self) {
        self.idle = true;
        let deadline = Instant::now() + self.keep_alive;
        self.deadline.as_mut().reset(deadline);
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
                    self.idle = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.idle && self.deadline.as_mut().poll(cx).is_ready() => {
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
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
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
