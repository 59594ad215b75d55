//! The PostgreSQL backend: the same store as SQLite, for several stateless replicas that
//! share one database.
//!
//! Everything that must hold across replicas is the database's job: uniqueness of numbers
//! (a unique constraint), one default number per workspace (a partial unique index, and a
//! row lock on the workspace while it changes), Idempotency-Key claims (a primary key and
//! `ON CONFLICT DO NOTHING`). No replica keeps state another needs.
#![forbid(unsafe_code)]

mod agents;
mod calls;
mod carriers;
mod events;
mod migrations;
mod numbers;
mod outbox;
mod purchases;
mod queries;
mod rows;
mod users;
mod webhooks;
mod workspaces;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Timeouts};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchboard_store::{MigrationReport, StoreError};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// How long one statement may run before PostgreSQL cancels it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a free connection before the database counts as unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// `host:port` of the server, for errors that must say where the database is.
    server: String,
    point_reads: Arc<SharedConnections>,
}

/// Connections that the hot point reads (a key, a number by id) share instead of checking
/// one out each. tokio-postgres pipelines the queries of concurrent requests on one
/// connection, so PostgreSQL's backend reads the next query as soon as it has answered the
/// last, instead of being woken once per query in one of many processes: on two cores that
/// wake-up cost as much as the query. Each read is one statement on its own (autocommit), so
/// it sees every write committed before it, whichever connection wrote it.
struct SharedConnections {
    slots: Vec<Mutex<Option<Arc<Object>>>>,
    next: AtomicUsize,
}

/// Connections shared by point reads, taken from the pool (and so counted in its size): one
/// per two cores. On two cores one beat two and four (bench/RESULTS.md): the fewer backends
/// PostgreSQL wakes, the more queries each wake-up serves.
fn shared_point_read_connections() -> usize {
    (cores() / 2).clamp(1, 4)
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("pool_size", &status.size)
            .field("pool_max", &status.max_size)
            .finish_non_exhaustive()
    }
}

/// Connection settings from a `postgres://` URL, with our timeouts. The password is never
/// logged: `tokio_postgres::Config`'s `Debug` redacts it.
/// `host:port` (or the socket directory) of a configuration, never its credentials.
fn where_is(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// An error and its causes, one after the other: the pool's own message ("error occurred
/// while creating a new object") says nothing of why (refused, timed out, bad password).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
    let mut options = config.get_options().unwrap_or("").to_owned();
    options.push_str(&format!(
        " -c statement_timeout={}",
        STATEMENT_TIMEOUT.as_millis()
    ));
    config.options(options.trim());
    config.connect_timeout(CONNECT_TIMEOUT);
    if config.get_application_name().is_none() {
        config.application_name("switchboard");
    }
    Ok(config)
}

/// Pool size: enough for the async workers and a few slow requests, small enough that ten
/// replicas stay well under PostgreSQL's default 100 connections.
fn pool_size() -> usize {
    (cores() * 4).clamp(4, 16)
}

/// The cores this process may run on (2 when that cannot be told).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl PostgresStore {
    /// Connects and checks that the schema is exactly the one this build knows; a database
    /// that is empty or behind must be migrated first (`switchboard migrate`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::pool_only(url)?;
        let client = store.client().await?;
        migrations::check(&client).await?;
        Ok(store)
    }

    /// Applies every migration the database lacks (safe to run from several replicas at once:
    /// an advisory lock lets one at a time through).
    pub async fn migrate(url: &str) -> Result<MigrationReport, StoreError> {
        let store = Self::pool_only(url)?;
        let mut client = store.client().await?;
        migrations::migrate(&mut client).await
    }

    fn pool_only(url: &str) -> Result<Self, StoreError> {
        let config = config(url)?;
        let server = where_is(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size())
            .timeouts(Timeouts {
                wait: Some(CHECKOUT_TIMEOUT),
                create: Some(CONNECT_TIMEOUT),
                recycle: Some(CONNECT_TIMEOUT),
            })
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL pool: {e}")))?;
        let point_reads = Arc::new(SharedConnections {
            slots: (0..shared_point_read_connections())
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        });
        Ok(Self {
            pool,
            server,
            point_reads,
        })
    }

    /// A connection for a single-statement read, shared with other requests (see
    /// [`SharedConnections`]); one that has closed (the server restarted) is replaced.
    pub(crate) async fn point_read_client(&self) -> Result<Arc<Object>, StoreError> {
        let shared = &self.point_reads;
        let slot = &shared.slots[shared.next.fetch_add(1, Ordering::Relaxed) % shared.slots.len()];
        let current = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|client| !client.is_closed());
        if let Some(client) = current {
            return Ok(client);
        }
        // Two requests may both replace a closed connection; the one stored last stays and
        // the other goes back to the pool when its read is done.
        let fresh = Arc::new(self.client().await?);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot reach PostgreSQL at {}: {}",
                self.server,
                with_causes(&e)
            ))
        })
    }

    /// Connections in use and the pool's limit, for operators.
    pub(crate) fn pool_usage(&self) -> (usize, usize) {
        let status = self.pool.status();
        (
            status.size.saturating_sub(status.available),
            status.max_size,
        )
    }
}

pub(crate) fn map_error(error: tokio_postgres::Error) -> StoreError {
    match error.code() {
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::FOREIGN_KEY_VIOLATION =>
        {
            StoreError::Conflict(error.to_string())
        }
        Some(code)
            if *code == SqlState::QUERY_CANCELED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::CANNOT_CONNECT_NOW =>
        {
            StoreError::Unavailable(error.to_string())
        }
        Some(_) => StoreError::Other(Box::new(error)),
        None if error.is_closed() => StoreError::Unavailable(error.to_string()),
        None => StoreError::Unavailable(error.to_string()),
    }
}
