//! The key that seals SIP trunk passwords: `SWITCHBOARD_SECRET_KEY` (64 hex characters), or a
//! key file beside the SQLite database (`<database>.key`), created on first use with mode
//! 0600 so only the service's user can read it.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_domain::SealingKey;

pub fn key_file_beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

pub fn load_or_create(from_env: Option<&str>, key_file: Option<&Path>) -> Result<SealingKey> {
    if let Some(hex) = from_env {
        return SealingKey::from_hex(hex).context("SWITCHBOARD_SECRET_KEY");
    }
    let Some(key_file) = key_file else {
        bail!(
            "set SWITCHBOARD_SECRET_KEY (64 hex characters, the same on every replica) to run on PostgreSQL; \
             `openssl rand -hex 32` makes one"
        );
    };
    match std::fs::read_to_string(key_file) {
        Ok(text) => {
            warn_if_readable_by_others(key_file);
            SealingKey::from_hex(&text).with_context(|| format!("key file {}", key_file.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = SealingKey::generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(key_file)
                .with_context(|| format!("cannot create key file {}", key_file.display()))?;
            file.write_all(key.to_hex().as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %key_file.display(), "created a new secret key file; back it up with the database");
            Ok(key)
        }
        Err(error) => bail!("cannot read key file {}: {error}", key_file.display()),
    }
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
