//! A carrier's published OpenAPI document standing between an adapter and a fake of the
//! carrier: Prism (`@stoplight/prism-cli`) in proxy mode with `--errors`, so a request the
//! adapter sends or an answer the fake gives that breaks the document is refused (422 / 500)
//! and logged. Tests end with [`ValidatingProxy::assert_conforming`].
//!
//! Prism is found at `SWITCHBOARD_TEST_PRISM` (the `prism` executable; `.ci/run` installs it
//! from `carriers/package.json` and sets this), else at `carriers/node_modules/.bin/prism` in
//! the repository (`npm ci --prefix carriers`). When neither exists the tests talk to the
//! fake directly and say so; a `SWITCHBOARD_TEST_PRISM` that names no file fails them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PRISM_VARIABLE: &str = "SWITCHBOARD_TEST_PRISM";

/// The repository's root (two levels above this crate).
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A vendored carrier document, by file name (`twilio-api-v2010-numbers.json`).
pub fn carrier_document(name: &str) -> PathBuf {
    repository().join("carriers/openapi").join(name)
}

fn prism_executable() -> Option<PathBuf> {
    match std::env::var(PRISM_VARIABLE) {
        Ok(value) if !value.is_empty() => {
            let path = PathBuf::from(value);
            assert!(
                path.exists(),
                "{PRISM_VARIABLE} names {}, which does not exist",
                path.display()
            );
            Some(path)
        }
        _ => {
            let local = repository().join("carriers/node_modules/.bin/prism");
            local.exists().then_some(local)
        }
    }
}

/// Prism in front of `upstream`, or nothing in the way when Prism is not installed.
#[derive(Debug)]
pub struct ValidatingProxy {
    /// Where the adapter should send its requests.
    pub url: String,
    process: Option<(Child, PathBuf)>,
    _log_dir: tempfile::TempDir,
}

impl ValidatingProxy {
    /// Starts Prism on a free port, checking traffic to `upstream` against `document`.
    pub fn start(document: &Path, upstream: &str) -> Self {
        let log_dir = tempfile::tempdir().unwrap();
        let Some(prism) = prism_executable() else {
            eprintln!(
                "note: Prism is not installed (npm ci --prefix carriers, or {PRISM_VARIABLE}): \
                 the adapter talks to the fake without checking either against {}",
                document.display()
            );
            return Self {
                url: upstream.to_owned(),
                process: None,
                _log_dir: log_dir,
            };
        };
        // A free port now may be taken by the time Prism binds it (tests start proxies in
        // parallel): Prism then exits, and is started again on another. Ready means Prism
        // itself says it listens, not merely that something answers on the port.
        let log_path = log_dir.path().join("prism.log");
        let mut attempts = 0;
        let (child, port) = loop {
            attempts += 1;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(&prism)
                .arg("proxy")
                .arg(document)
                .arg(upstream)
                .args([
                    "--errors",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", prism.display()));
            let started = Instant::now();
            let listening = format!("Prism is listening on http://127.0.0.1:{port}");
            let ready = loop {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains(&listening) {
                    break true;
                }
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(90),
                    "Prism did not listen within 90 s: {log}"
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            if ready {
                break (child, port);
            }
            assert!(
                attempts < 5,
                "Prism could not start: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            process: Some((child, log_path)),
            _log_dir: log_dir,
        }
    }

    /// Whether Prism is checking the traffic.
    pub fn is_validating(&self) -> bool {
        self.process.is_some()
    }

    /// What Prism logged (empty when it is not running).
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(|(_, log_path)| std::fs::read_to_string(log_path).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Every exchange Prism refused: a request or an answer that breaks the document.
    pub fn violations(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|line| {
                line.contains("Request terminated with error")
                    || line.contains("Violation:")
                    || line.contains("sl-violations")
            })
            .map(str::to_owned)
            .collect()
    }

    /// Fails the test when any request or answer broke the carrier's document.
    pub fn assert_conforming(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "traffic that breaks the carrier's OpenAPI document:\n{}",
            violations.join("\n")
        );
    }
}

impl Drop for ValidatingProxy {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
