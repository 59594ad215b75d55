//! The key that seals SIP trunk passwords: `SWITCHBOARD_SECRET_KEY` (64 hex characters), or a
//! key file beside the SQLite database (`<database>.key`), created on first use with mode
//! 0600 so only the service's user can read it.
//!
//! The database records the id of the key that seals its secrets (a digest, never the key).
//! Starting with another key, or without the key file of a database that holds sealed
//! secrets, is refused: a new key would make every stored password unreadable for good.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_domain::SealingKey;
use switchboard_store::Store;

pub fn key_file_beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// The sealing key to serve `store` with: from the environment, else from the key file
/// (created when the database has nothing sealed yet). Checked against the key id the
/// database recorded, or, for a database that recorded none, against one sealed secret;
/// then recorded.
pub async fn sealing_key_for(
    store: &dyn Store,
    from_env: Option<&str>,
    key_file: Option<&Path>,
) -> Result<SealingKey> {
    let recorded = store.sealing_key_id().await?;
    let sample = store.sample_sealed_secret().await?;
    let (key, source) = match (from_env, key_file) {
        (Some(hex), _) => (
            SealingKey::from_hex(hex).context("SWITCHBOARD_SECRET_KEY")?,
            "SWITCHBOARD_SECRET_KEY".to_owned(),
        ),
        (None, None) => bail!(
            "set SWITCHBOARD_SECRET_KEY (64 hex characters, the same on every replica) to run on PostgreSQL; \
             `openssl rand -hex 32` makes one"
        ),
        (None, Some(file)) => {
            let source = format!("key file {}", file.display());
            match read_key_file(file)? {
                Some(key) => (key, source),
                None if recorded.is_some() || sample.is_some() => bail!(
                    "the key file {} is missing, and this database holds SIP trunk passwords sealed with key {}: \
                     put that key file back (a backup's key file is beside it, as <backup>.key) or set \
                     SWITCHBOARD_SECRET_KEY to that key. A new key would leave every stored password unreadable.",
                    file.display(),
                    recorded.as_deref().unwrap_or("(not recorded)")
                ),
                None => (create_key_file(file)?, source),
            }
        }
    };
    let id = key.id();
    match recorded {
        Some(recorded) if recorded != id => bail!(
            "the {source} holds key {id}, but this database's secrets were sealed with key {recorded}: \
             use the key that belongs to this database"
        ),
        Some(_) => {}
        None => {
            if let Some(sealed) = sample
                && key.open(&sealed).is_err()
            {
                bail!(
                    "the {source} (key {id}) cannot open the SIP trunk passwords stored in this database: \
                     use the key they were sealed with"
                );
            }
            store.record_sealing_key_id(&id).await?;
        }
    }
    Ok(key)
}

/// The key in `file`, or `None` when there is no such file.
fn read_key_file(file: &Path) -> Result<Option<SealingKey>> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            warn_if_readable_by_others(file);
            SealingKey::from_hex(&text)
                .with_context(|| format!("key file {}", file.display()))
                .map(Some)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => bail!("cannot read key file {}: {error}", file.display()),
    }
}

fn create_key_file(file: &Path) -> Result<SealingKey> {
    let key = SealingKey::generate();
    write_private_file(file, key.to_hex().as_bytes())
        .with_context(|| format!("cannot create key file {}", file.display()))?;
    tracing::info!(path = %file.display(), key_id = %key.id(), "created a new secret key file; back it up with the database");
    Ok(key)
}

/// Writes a new file (never an existing one) that only this user can read, and syncs it.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the secret key file is readable by other users; chmod 600 it");
        }
    }
}
