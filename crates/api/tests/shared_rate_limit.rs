//! One rate limit for all replicas, through a real Redis: two replicas together allow the
//! limit once; with Redis gone they keep serving, each counting on its own; with Redis back
//! the limit is shared again.
//!
//! Each test starts a `redis-server` of its own on a free port, so that it can stop and
//! restart it. `.ci/run` sets `SWITCHBOARD_TEST_REDIS=required`, which makes a missing
//! `redis-server` a failure instead of a test that does not run.

mod common;

use axum::http::StatusCode;
use common::{TestApp, bearer};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use switchboard_api::ApiSettings;

struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// A fresh Redis on `port` (a free one when `None`); `None` when there is no
    /// `redis-server` and none is required.
    fn start(port: Option<u16>) -> Option<Self> {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                assert!(
                    std::env::var("SWITCHBOARD_TEST_REDIS").as_deref() != Ok("required"),
                    "redis-server is required here and could not be started: {error}"
                );
                eprintln!("not run: redis-server could not be started ({error})");
                return None;
            }
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Self {
                    child,
                    port,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(redis: &RedisServer, per_minute: u32) -> ApiSettings {
    ApiSettings {
        rate_limit_per_minute: per_minute,
        redis_url: Some(redis.url()),
        ..ApiSettings::default()
    }
}

/// Alternates `count` requests of `token` between the two replicas; their statuses and
/// `X-RateLimit-Remaining` values.
async fn alternate(a: &TestApp, b: &TestApp, token: &str, count: usize) -> (Vec<u16>, Vec<String>) {
    let mut statuses = Vec::new();
    let mut remaining = Vec::new();
    for i in 0..count {
        let app = if i % 2 == 0 { a } else { b };
        let reply = app.get("/v1/agents", Some(&bearer(token))).await;
        statuses.push(reply.status.as_u16());
        remaining.push(
            reply
                .headers
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned(),
        );
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(reply.headers.contains_key("retry-after"));
        }
    }
    (statuses, remaining)
}

#[tokio::test]
async fn two_replicas_allow_the_limit_once() {
    let Some(redis) = RedisServer::start(None) else {
        return;
    };
    for backend in common::backends() {
        let a = TestApp::with_settings(backend, settings(&redis, 6)).await;
        let b = TestApp::replica_with(&a, settings(&redis, 6)).await;
        let ws = a.workspace("Acme").await;
        let (statuses, remaining) = alternate(&a, &b, &ws.token, 9).await;
        assert_eq!(
            statuses,
            [200, 200, 200, 200, 200, 200, 429, 429, 429],
            "{backend:?}"
        );
        assert_eq!(
            remaining[..6],
            ["5", "4", "3", "2", "1", "0"],
            "{backend:?}: one budget across both"
        );
        assert!(a.state.rate_limits.is_shared());
    }
}

#[tokio::test]
async fn without_redis_replicas_keep_serving_and_share_again_when_it_returns() {
    let Some(redis) = RedisServer::start(None) else {
        return;
    };
    let backend = common::Backend::Sqlite;
    let a = TestApp::with_settings(backend, settings(&redis, 4)).await;
    let b = TestApp::replica_with(&a, settings(&redis, 4)).await;
    let ws = a.workspace("Acme").await;
    let (shared, _) = alternate(&a, &b, &ws.token, 6).await;
    assert_eq!(shared, [200, 200, 200, 200, 429, 429]);

    // Redis goes away: every request is still answered, each replica counting on its own.
    let port = redis.stop();
    let other = a.key(&ws.id, switchboard_domain::Scopes::all()).await;
    let started = std::time::Instant::now();
    let (alone, _) = alternate(&a, &b, &other, 12).await;
    assert_eq!(
        alone.iter().filter(|s| **s == 200).count(),
        8,
        "each replica's own limit: {alone:?}"
    );
    assert!(alone.iter().all(|s| *s == 200 || *s == 429), "{alone:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "requests stalled while Redis was away"
    );
    let metrics =
        String::from_utf8(a.call("GET", "/metrics", None, None).await.body).expect("UTF-8");
    assert!(
        metrics.contains("rate_limit_shared_fallbacks_total"),
        "the fallback is counted"
    );
    assert!(metrics.contains("rate_limit_shared_up 0"), "{metrics}");

    // Redis returns (empty): after the replicas' pause, the limit is shared again.
    let _back = RedisServer::start(Some(port)).expect("Redis restarts");
    for attempt in 0..20 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let fresh = a.key(&ws.id, switchboard_domain::Scopes::all()).await;
        let (again, _) = alternate(&a, &b, &fresh, 6).await;
        if again == [200, 200, 200, 200, 429, 429] {
            break;
        }
        assert!(attempt < 19, "the limit was not shared again: {again:?}");
    }
    let metrics =
        String::from_utf8(a.call("GET", "/metrics", None, None).await.body).expect("UTF-8");
    assert!(metrics.contains("rate_limit_shared_up 1"), "{metrics}");
}
