//! The embedded SQLite backend.
//!
//! One database file in WAL mode. Writes go through a pool of exactly one connection and take
//! the write lock up front (`BEGIN IMMEDIATE`), so they never fail half-way on a lock upgrade;
//! reads go through a pool of several read-only connections, each with a page cache of its
//! own, and never wait for writes.
//!
//! Where the work runs, measured with `bench/run.py` (see `bench/RESULTS.md`):
//! - Writes and reads of many rows run whole — checkout, statements, commit — on tokio's
//!   blocking pool, so the async workers never wait on disk or on the write lock.
//! - Lookups of one row by key (the hot path: the API key and the number of every GET) run
//!   right on the calling worker when a read connection is free. They take microseconds on
//!   cached pages; hopping to the blocking pool for them cost more than the query
//!   (thread wake-ups and context switches were most of the CPU profile) and held the GET
//!   benchmark to about a fifth of the baseline.
//!
//! Durability: `synchronous = FULL` in WAL mode syncs the log on every commit, so a write that
//! was acknowledged survives the process (or the machine) dying at any moment after it.
#![forbid(unsafe_code)]

mod migrations;
#[macro_use]
mod outbox;
mod agents;
mod calls;
mod carriers;
mod events;
mod numbers;
mod purchases;
mod queries;
mod rows;
mod users;
mod webhooks;
mod workspaces;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_store::{MigrationReport, StoreError};

/// How long a connection waits for a lock held by another process (e.g. a CLI import while
/// the server runs) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a free connection before the database counts as unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    readers: Pool<SqliteConnectionManager>,
    writer: Pool<SqliteConnectionManager>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The file path in a `sqlite://PATH` (or `sqlite:PATH`) URL; `sqlite:///abs/path.db` is absolute.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

/// How long a connection sleeps between tries for a lock another process holds.
const BUSY_STEP: Duration = Duration::from_millis(1);

/// SQLite's own busy timeout sleeps longer and longer between tries (up to 100 ms at a time),
/// so a process that waits for the write lock keeps missing the short gaps a busy writer in
/// another process leaves between its transactions (the server draining a webhook backlog,
/// while the command line wants to write). Trying every millisecond takes the first gap, for
/// up to [`BUSY_TIMEOUT`].
fn wait_for_lock(tries: i32) -> bool {
    let waited = BUSY_STEP * u32::try_from(tries).unwrap_or(u32::MAX);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

fn apply_connection_settings(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_for_lock))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
}

/// Readers keep the pages they read in a cache of their own (16 MiB each) instead of mapping
/// the file: a mapping of the whole file (1 GiB, as before) put every page a reader touched
/// into the process's resident memory once per reader, 460–850 MiB on the benchmark's
/// 300 MB database, where these caches hold it to about 120 MiB whatever the file's size,
/// at the same speed within the machine's noise (bench/RESULTS.md). The cache is checked
/// against the WAL at each read transaction, so another process's writes are seen at once.
fn apply_reader_settings(conn: &mut Connection) -> rusqlite::Result<()> {
    apply_connection_settings(conn)?;
    conn.execute_batch("PRAGMA mmap_size = 0; PRAGMA cache_size = -16384;")
}

/// Creates `path` empty and readable by this user only; `false` when it already exists.
/// SQLite gives the files it adds beside a database (`-wal`, `-shm`) the database file's
/// permissions, so the whole database stays private; left to SQLite, a new file would
/// follow the umask (0644).
fn create_private(path: &Path) -> std::io::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    create_private(path).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot create SQLite database {}: {e}",
            path.display()
        ))
    })?;
    let mut conn = Connection::open(path).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot open SQLite database {}: {e}",
            path.display()
        ))
    })?;
    apply_connection_settings(&mut conn).map_err(map_error)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens the database at `path`, creating and migrating it when it is new or empty.
    /// A database with an older schema must be migrated first (`switchboard migrate`); one with
    /// a newer schema than this build knows is refused.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let check_path = path.clone();
        run_blocking(move || {
            let mut conn = open_connection(&check_path)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(map_error)?;
            migrations::migrate_if_empty_then_check(&mut conn)
        })
        .await?;
        Self::connect_pools(path)
    }

    /// Applies every migration the database lacks. Creates the file if missing.
    pub async fn migrate(path: impl Into<PathBuf>) -> Result<MigrationReport, StoreError> {
        let path = path.into();
        run_blocking(move || {
            let mut conn = open_connection(&path)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(map_error)?;
            migrations::migrate(&mut conn)
        })
        .await
    }

    /// Writes a consistent copy of the database at `path` to the new file `to` with
    /// `VACUUM INTO`, while other connections (a running server) go on reading and writing:
    /// the copy is one read transaction's snapshot, compacted. `to` must not exist.
    pub async fn backup(
        path: impl Into<PathBuf>,
        to: impl Into<PathBuf>,
    ) -> Result<u64, StoreError> {
        let (path, to) = (path.into(), to.into());
        run_blocking(move || {
            // Created here, empty and private, so that an existing file is never touched
            // and the copy is as private as the database (VACUUM INTO fills an empty file).
            match create_private(&to) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(StoreError::Conflict(format!(
                        "{} already exists; choose a new file",
                        to.display()
                    )));
                }
                Err(e) => {
                    return Err(StoreError::Other(
                        format!("cannot create the backup {}: {e}", to.display()).into(),
                    ));
                }
            }
            let copied = Self::copy_into(&path, &to);
            if copied.is_err() {
                let _ = std::fs::remove_file(&to);
            }
            copied
        })
        .await
    }

    /// `VACUUM INTO` the empty file `to`; returns its size.
    fn copy_into(path: &Path, to: &Path) -> Result<u64, StoreError> {
        let mut conn = open_connection(path)?;
        migrations::migrate_if_empty_then_check(&mut conn)?;
        let target = to
            .to_str()
            .ok_or_else(|| StoreError::Other("the backup path is not UTF-8".into()))?;
        conn.execute("VACUUM INTO ?1", [target])
            .map_err(map_error)?;
        std::fs::metadata(to)
            .map(|m| m.len())
            .map_err(|e| StoreError::Other(Box::new(e)))
    }

    fn connect_pools(path: PathBuf) -> Result<Self, StoreError> {
        let writer_manager =
            SqliteConnectionManager::file(&path).with_init(apply_connection_settings);
        let reader_manager = SqliteConnectionManager::file(&path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .with_init(apply_reader_settings);
        let pool_error = |e: r2d2::Error| StoreError::Unavailable(format!("SQLite pool: {e}"));
        let writer = Pool::builder()
            .max_size(1)
            .connection_timeout(CHECKOUT_TIMEOUT)
            .test_on_check_out(false)
            .build(writer_manager)
            .map_err(pool_error)?;
        let readers = Pool::builder()
            .max_size(reader_count())
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A checkout test would cost a query per request; a broken read connection
            // surfaces as an error on first use instead.
            .test_on_check_out(false)
            .build(reader_manager)
            .map_err(pool_error)?;
        Ok(Self {
            path,
            readers,
            writer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on a read-only connection, off the async workers.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        run_blocking(move || {
            let conn = pool
                .get()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            work(&conn)
        })
        .await
    }

    /// Runs a lookup of one row by key on the calling thread when a read connection is free
    /// (see the module docs for why), else like [`SqliteStore::read`]. `work` must stay that
    /// small: no scans, no loops over rows.
    async fn lookup<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match self.readers.try_get() {
            Some(conn) => work(&conn),
            None => self.read(work).await,
        }
    }

    /// Runs `work` in an immediate write transaction on the single writer; commits when it
    /// returns `Ok`, rolls back otherwise.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(true, work).await
    }

    /// [`Self::write`] for work with its own error type; with `commit: false` the transaction
    /// is rolled back even when `work` succeeds (a dry run sees exactly what would change).
    async fn transaction<T, E, F>(&self, commit: bool, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let pool = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let value = work(&tx)?;
            if commit {
                tx.commit().map_err(map_error)?;
            }
            Ok(value)
        })
        .await
        .map_err(|e| E::from(StoreError::Other(Box::new(e))))?
    }
}

/// Enough readers to keep both cores busy while others wait on disk.
fn reader_count() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(8).clamp(2, 16)
}

async fn run_blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))?
}

/// Maps SQLite's errors onto the store's: constraint violations are conflicts, lock and I/O
/// trouble is unavailability, the rest keeps its cause.
pub(crate) fn map_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(error.to_string()),
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull,
        ) => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Other(Box::new(error)),
    }
}
