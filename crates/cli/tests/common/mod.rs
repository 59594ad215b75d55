//! The real binary on a test database, for the multi-process tests.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::process::Command;
use switchboard_testkit::{ServerProcess, TestDatabase};

/// The sealing key every process of one test shares, as replicas must.
pub const SECRET_KEY: &str = "7c5f0a3b9e2d4c6a8b1f0e3d5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0a1c3e";

/// `switchboard` pointed at `db`, with nothing from the caller's environment leaking in.
pub fn switchboard(db: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .env("SWITCHBOARD_DATABASE_URL", &db.url)
        .env("SWITCHBOARD_SECRET_KEY", SECRET_KEY)
        .env("RUST_LOG", "warn,switchboard=info")
        .env_remove("SWITCHBOARD_PLIVO_AUTH_ID")
        .env_remove("SWITCHBOARD_PLIVO_AUTH_TOKEN");
    command
}

/// `switchboard serve` on a free port, rate limits off (these tests fire far more than
/// 600 requests a minute from one key).
pub fn serve(db: &TestDatabase) -> ServerProcess {
    serve_with(db, &[])
}

/// [`serve`] with more flags.
pub fn serve_with(db: &TestDatabase, extra: &[&str]) -> ServerProcess {
    let mut command = switchboard(db);
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rate-limit-per-minute",
        "0",
    ]);
    command.args(extra);
    ServerProcess::start(command)
}

/// A new workspace (US enabled) and its full-scope key: its id and the key.
pub fn workspace_and_key(db: &TestDatabase) -> (String, String) {
    let mut command = switchboard(db);
    command.args(["workspace", "create", "--name", "Test", "--countries", "US"]);
    let created = json_output(command);
    let field = |name: &str| created[name].as_str().expect(name).to_owned();
    (field("workspace_id"), field("api_key"))
}

/// Runs `command`, which must succeed and print one JSON value.
pub fn json_output(mut command: Command) -> serde_json::Value {
    let output = command.output().expect("run switchboard");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// Runs a future to completion from a plain (non-async) test.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Posts a request to a server's Twilio endpoint `path`, signed with `token` as Twilio signs
/// (the URL called and the form); the answer's TwiML. Panics on anything but a 2xx.
pub async fn twilio_request(
    base: &str,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> String {
    let url = format!("{base}{path}");
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = switchboard_providers::twilio::twilio_signature(token, &url, &pairs);
    let reply = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&pairs)
        .send()
        .await
        .expect("twilio request");
    assert!(reply.status().is_success(), "{path}: {}", reply.status());
    reply.text().await.expect("body")
}
