//! Opening the database named by `--database-url`: the URL's scheme picks the backend.

use anyhow::{Result, bail};
use std::sync::Arc;
use switchboard_store::Store;
use switchboard_store_sqlite::{MigrationReport, SqliteStore, path_from_url};

fn sqlite_path(url: &str) -> Result<std::path::PathBuf> {
    match path_from_url(url) {
        Some(path) => Ok(path),
        None => bail!(
            "unsupported --database-url {:?}: expected sqlite://PATH",
            redacted(url)
        ),
    }
}

/// Opens the database; a new or empty one is created and migrated.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    let store = SqliteStore::open(sqlite_path(url)?).await?;
    Ok(Arc::new(store))
}

pub async fn migrate(url: &str) -> Result<MigrationReport> {
    Ok(SqliteStore::migrate(sqlite_path(url)?).await?)
}

/// Where the secret key file lives: beside the SQLite database.
pub fn key_file(url: &str) -> Result<std::path::PathBuf> {
    Ok(crate::secrets::key_file_beside(&sqlite_path(url)?))
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
