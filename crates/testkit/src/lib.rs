//! Databases for tests, on every backend the run is configured for.
//!
//! SQLite always; PostgreSQL too when `SWITCHBOARD_TEST_DATABASE_URL` names a server, each test
//! in a fresh schema of its own. A test that loops over [`backends()`] therefore runs on SQLite
//! everywhere and on PostgreSQL wherever it is configured (CI sets it, and fails if the server
//! is not there) — it never skips silently.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    reason = "test infrastructure: a failed setup should stop the test loudly"
)]

pub mod fake_telnyx;
pub mod fake_twilio;
mod identity_provider;
mod server;
mod validating_proxy;

pub use identity_provider::{
    CLIENT_ID as OIDC_CLIENT_ID, CLIENT_SECRET as OIDC_CLIENT_SECRET, TestIdentityProvider,
};
pub use server::ServerProcess;

/// A TCP port nothing listens on now (something may take it before it is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}
pub use validating_proxy::{ValidatingProxy, carrier_document};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchboard_store::Store;
use switchboard_store_postgres::PostgresStore;
use switchboard_store_sqlite::SqliteStore;

pub const POSTGRES_URL_VARIABLE: &str = "SWITCHBOARD_TEST_DATABASE_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite, and PostgreSQL when `SWITCHBOARD_TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var(POSTGRES_URL_VARIABLE).is_ok_and(|url| !url.is_empty()) {
        backends.push(Backend::Postgres);
    }
    backends
}

/// One test's database, migrated to the current schema.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// What `--database-url` would be for this database.
    pub url: String,
    sqlite: Option<(tempfile::TempDir, PathBuf)>,
}

fn postgres_base_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE).unwrap()
}

async fn postgres_admin() -> tokio_postgres::Client {
    let url = postgres_base_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("{POSTGRES_URL_VARIABLE} is set but PostgreSQL cannot be reached: {e}")
        });
    tokio::spawn(connection);
    client
}

fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}", path.display());
                SqliteStore::migrate(&path).await.unwrap();
                Self {
                    backend,
                    url,
                    sqlite: Some((dir, path)),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin().await;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                // Schemas of runs older than an hour are leftovers: tests cannot clean up
                // after themselves (there is no async drop), so each run sweeps the old ones.
                let old = admin
                    .query(
                        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sbtest\\_%'",
                        &[],
                    )
                    .await
                    .unwrap();
                for row in old {
                    let name: String = row.get(0);
                    let created: u64 = name
                        .split('_')
                        .nth(1)
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    if created + 3600 < now {
                        let _ = admin
                            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .await;
                    }
                }
                let suffix: u64 = rand::random::<u64>() % 1_000_000_000_000;
                let schema = format!("sbtest_{now}_{suffix}");
                admin
                    .batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .unwrap();
                let url = with_search_path(&postgres_base_url(), &schema);
                PostgresStore::migrate(&url).await.unwrap();
                Self {
                    backend,
                    url,
                    sqlite: None,
                }
            }
        }
    }

    pub async fn open_store(&self) -> Arc<dyn Store> {
        match &self.sqlite {
            Some((_, path)) => Arc::new(SqliteStore::open(path).await.unwrap()),
            None => Arc::new(PostgresStore::connect(&self.url).await.unwrap()),
        }
    }

    /// The SQLite file, when this is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite.as_ref().map(|(_, path)| path.as_path())
    }

    /// Runs one statement straight on the database, behind the store's back.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self.sqlite_path() {
            Some(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .unwrap();
                conn.execute(sql, []).unwrap() as u64
            }
            None => self
                .postgres_client()
                .await
                .execute(sql, &[])
                .await
                .unwrap(),
        }
    }

    /// The single integer a query returns (e.g. a count).
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self.sqlite_path() {
            Some(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(sql, [], |row| row.get(0))
                .unwrap(),
            None => self
                .postgres_client()
                .await
                .query_one(sql, &[])
                .await
                .unwrap()
                .get(0),
        }
    }

    /// Everything the database holds, as bytes: the SQLite files, or every row of every table
    /// of the PostgreSQL schema as text (binary columns in hex). For "is this secret stored
    /// anywhere?" checks.
    pub async fn dump(&self) -> Vec<u8> {
        match self.sqlite_path() {
            Some(path) => {
                let mut bytes = Vec::new();
                for suffix in ["", "-wal", "-shm"] {
                    if let Ok(part) = std::fs::read(format!("{}{suffix}", path.display())) {
                        bytes.extend(part);
                    }
                }
                bytes
            }
            None => {
                let client = self.postgres_client().await;
                let tables = client
                    .query(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
                        &[],
                    )
                    .await
                    .unwrap();
                let mut bytes = Vec::new();
                for table in tables {
                    let name: String = table.get(0);
                    for row in client
                        .query(&format!("SELECT t::text FROM {name} t"), &[])
                        .await
                        .unwrap()
                    {
                        bytes.extend(row.get::<_, String>(0).into_bytes());
                        bytes.push(b'\n');
                    }
                }
                bytes
            }
        }
    }

    /// A connection of its own to the test schema (PostgreSQL only), e.g. to hold a transaction
    /// open while the store works.
    pub async fn postgres_client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }
}
