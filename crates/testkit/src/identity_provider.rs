//! A real OpenID provider for the sign-in tests: `oidc/provider.mjs` (panva's oidc-provider,
//! OpenID Certified, pinned in `oidc/package-lock.json`) run by Node.
//!
//! Found at `SWITCHBOARD_TEST_OIDC_PROVIDER` (the script; `.ci/run` installs its package with
//! `npm ci --prefix oidc` and sets this), else at `oidc/provider.mjs` in the repository once
//! `oidc/node_modules` exists. Without either, [`TestIdentityProvider::start`] says so and
//! gives `None` (the test is skipped); a variable that names no file fails the test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const OIDC_PROVIDER_VARIABLE: &str = "SWITCHBOARD_TEST_OIDC_PROVIDER";

/// The provider's one client: Switchboard.
pub const CLIENT_ID: &str = "switchboard";
pub const CLIENT_SECRET: &str = "a test client secret, long enough for the provider";

fn script() -> Option<PathBuf> {
    match std::env::var(OIDC_PROVIDER_VARIABLE) {
        Ok(value) if !value.is_empty() => {
            let path = PathBuf::from(value);
            assert!(
                path.exists(),
                "{OIDC_PROVIDER_VARIABLE} names {}, which does not exist",
                path.display()
            );
            Some(path)
        }
        _ => {
            let oidc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../oidc");
            oidc.join("node_modules")
                .exists()
                .then(|| oidc.join("provider.mjs"))
        }
    }
}

/// The provider, running; stopped when dropped.
#[derive(Debug)]
pub struct TestIdentityProvider {
    /// `http://127.0.0.1:PORT`: its issuer, and where its pages are.
    pub issuer: String,
    child: Child,
}

impl TestIdentityProvider {
    /// Starts the provider with one client whose redirect URI is `redirect_uri`; `None` when
    /// it is not installed here.
    pub fn start(redirect_uri: &str) -> Option<Self> {
        let Some(script) = script() else {
            eprintln!(
                "SKIPPED: the identity provider is not installed (npm ci --prefix oidc, or \
                 {OIDC_PROVIDER_VARIABLE})"
            );
            return None;
        };
        let port = crate::free_port();
        let mut child = Command::new("node")
            .arg(&script)
            .args([&port.to_string(), redirect_uri, CLIENT_ID, CLIENT_SECRET])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start node {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("issuer ready at ") {
                    let _ = ready_tx.send(());
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("the identity provider did not start on port {port}");
        }
        Some(Self {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
        })
    }
}

impl Drop for TestIdentityProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
