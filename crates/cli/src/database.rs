//! Opening the database named by `--database-url`: the URL's scheme picks the backend.

use anyhow::{Result, bail};
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_store::{MigrationReport, Store};
use switchboard_store_postgres::PostgresStore;
use switchboard_store_sqlite::{SqliteStore, path_from_url};

enum Backend {
    Sqlite(PathBuf),
    Postgres,
}

fn backend(url: &str) -> Result<Backend> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Backend::Postgres);
    }
    match path_from_url(url) {
        Some(path) => Ok(Backend::Sqlite(path)),
        None => bail!(
            "unsupported --database-url {:?}: expected sqlite://PATH or postgres://USER@HOST/DATABASE",
            redacted(url)
        ),
    }
}

/// Opens the database. A new or empty SQLite file is created and migrated; PostgreSQL must
/// already be at this build's schema (`switchboard migrate`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    Ok(match backend(url)? {
        Backend::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Backend::Postgres => Arc::new(PostgresStore::connect(url).await?),
    })
}

pub async fn migrate(url: &str) -> Result<MigrationReport> {
    Ok(match backend(url)? {
        Backend::Sqlite(path) => SqliteStore::migrate(path).await?,
        Backend::Postgres => PostgresStore::migrate(url).await?,
    })
}

/// What `backup` wrote.
pub struct Backup {
    pub bytes: u64,
    /// The copy of the database's key file, beside the backup; `None` when the database has
    /// no key file (its key comes from `SWITCHBOARD_SECRET_KEY`, or it never needed one).
    pub key_file: Option<PathBuf>,
}

/// A consistent online copy of a SQLite database, and of its key file beside it (a backup
/// without its key cannot open the SIP trunk passwords it holds); PostgreSQL has its own
/// tools.
pub async fn backup(url: &str, to: &std::path::Path) -> Result<Backup> {
    match backend(url)? {
        Backend::Sqlite(path) => {
            let key = crate::secrets::key_file_beside(&path);
            let key_copy = crate::secrets::key_file_beside(to);
            let key_text = match std::fs::read(&key) {
                Ok(text) => Some(text),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => bail!("cannot read the key file {}: {error}", key.display()),
            };
            if key_text.is_some() && key_copy.exists() {
                bail!("{} already exists; choose a new file", key_copy.display());
            }
            let bytes = SqliteStore::backup(path, to).await?;
            let key_file = match key_text {
                Some(text) => {
                    crate::secrets::write_private_file(&key_copy, &text).map_err(|e| {
                        anyhow::anyhow!("cannot write the key file {}: {e}", key_copy.display())
                    })?;
                    Some(key_copy)
                }
                None => None,
            };
            Ok(Backup { bytes, key_file })
        }
        Backend::Postgres => bail!(
            "backup copies SQLite databases; for PostgreSQL use pg_dump (or your provider's snapshots)"
        ),
    }
}

/// Where the secret key file lives: beside a SQLite database. PostgreSQL deployments have
/// several replicas, which must share one key: it comes from the environment only.
pub fn key_file(url: &str) -> Result<Option<PathBuf>> {
    Ok(match backend(url)? {
        Backend::Sqlite(path) => Some(crate::secrets::key_file_beside(&path)),
        Backend::Postgres => None,
    })
}

/// The URL with any password replaced, for logs and messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redacted("postgres://switchboard:s3cret@db.internal:5432/switchboard"),
            "postgres://switchboard:***@db.internal:5432/switchboard"
        );
        assert!(!redacted("postgresql://u:p%40ss@h/d").contains("p%40ss"));
        assert_eq!(
            redacted("sqlite://switchboard.db"),
            "sqlite://switchboard.db"
        );
    }
}
