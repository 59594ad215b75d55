//! `switchboard numbers import --from plivo|twilio|telnyx`: the real binary takes over the numbers a
//! carrier account holds. Plivo's are listed page by page from a fake of Plivo's number-list API
//! on a local port (its documented shape: `GET /v1/Account/{auth_id}/Number/` with
//! `limit`/`offset`, basic auth, `meta.total_count`); Twilio's and Telnyx's from the stateful
//! fakes of the testkit, through Prism checking every exchange against the carrier's OpenAPI
//! document. On SQLite
//! always, and on PostgreSQL when SWITCHBOARD_TEST_DATABASE_URL is set.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use switchboard_testkit::fake_telnyx::{self, FakeTelnyx};
use switchboard_testkit::fake_twilio::{self, FakeTwilio};
use switchboard_testkit::{TestDatabase, ValidatingProxy, backends, carrier_document};
mod common;

use common::{json_output, switchboard, workspace_and_key};

const AUTH_ID: &str = "MAIMPORTTESTACCOUNT0";
const AUTH_TOKEN: &str = "import-test-token";

/// The account's numbers, two to a page (Plivo's pages hold up to 20; two makes the command
/// read several).
fn held() -> Vec<Value> {
    vec![
        json!({"number": "14155552671", "number_type": "local", "monthly_rental_rate": "0.80000",
               "voice_enabled": true, "sms_enabled": true, "mms_enabled": false,
               "alias": "SF line", "added_on": "2025-03-01", "region": "California, UNITED STATES"}),
        json!({"number": "18005550142", "number_type": "tollfree", "monthly_rental_rate": "1.00000",
               "voice_enabled": true, "sms_enabled": false, "mms_enabled": false,
               "alias": null, "added_on": "2025-03-02", "region": "UNITED STATES"}),
        json!({"number": "442079460999", "number_type": "fixed", "monthly_rental_rate": "1.50000",
               "voice_enabled": true, "sms_enabled": false, "mms_enabled": false,
               "alias": null, "added_on": "2025-03-03", "region": "London, UNITED KINGDOM"}),
    ]
}

#[derive(Clone, Default)]
struct Fake {
    /// `offset` of each page asked for.
    pages: Arc<Mutex<Vec<String>>>,
    down: Arc<Mutex<bool>>,
}

async fn list_numbers(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{AUTH_ID}:{AUTH_TOKEN}"))
    );
    if account != AUTH_ID
        || headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(expected.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "authentication failed"})),
        )
            .into_response();
    }
    if *fake.down.lock().expect("lock") {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "internal error"})),
        )
            .into_response();
    }
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    fake.pages.lock().expect("lock").push(offset.to_string());
    let all = held();
    let page: Vec<Value> = all.iter().skip(offset).take(2).cloned().collect();
    axum::Json(json!({
        "api_id": "c6e0b3a2-0000-11e6-b2dd-0242ac110002",
        "meta": {"limit": 2, "offset": offset, "total_count": all.len(), "next": null, "previous": null},
        "objects": page,
    }))
    .into_response()
}

async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route(
            "/v1/Account/{account}/Number/",
            axum::routing::get(list_numbers),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{address}"))
}

/// `switchboard numbers import --from plivo` for `workspace`, with the account's credentials.
fn import_from_plivo(db: &TestDatabase, base: &str, workspace: &str, extra: &[&str]) -> Command {
    let mut command = switchboard(db);
    command
        .env("SWITCHBOARD_PLIVO_AUTH_ID", AUTH_ID)
        .env("SWITCHBOARD_PLIVO_AUTH_TOKEN", AUTH_TOKEN)
        .env("SWITCHBOARD_PLIVO_BASE_URL", base)
        .args([
            "numbers",
            "import",
            "--workspace",
            workspace,
            "--from",
            "plivo",
        ])
        .args(extra);
    command
}

async fn run(command: Command) -> std::process::Output {
    let mut command = command;
    tokio::task::spawn_blocking(move || command.output().expect("run switchboard"))
        .await
        .expect("join")
}

/// Every number of `workspace`, as `numbers export --format ndjson` prints them.
async fn exported(db: &TestDatabase, workspace: &str) -> Vec<Value> {
    let mut export = switchboard(db);
    export.args([
        "numbers",
        "export",
        "--workspace",
        workspace,
        "--format",
        "ndjson",
    ]);
    let exported = run(export).await;
    String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("ndjson"))
        .collect()
}

async fn json_of(command: Command) -> Value {
    tokio::task::spawn_blocking(move || json_output(command))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plivo_account_is_taken_over_once_and_a_dry_run_changes_nothing() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let (fake, base) = start_fake().await;
        let (workspace, _) = workspace_and_key(&db);
        // Another workspace already holds the London number (imported from a file).
        let (other, _) = workspace_and_key(&db);
        let csv = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(csv.path(), "phone_number,provider\n+442079460999,plivo\n").expect("write");
        let mut by_file = switchboard(&db);
        by_file
            .args(["numbers", "import", "--workspace", &other])
            .arg(csv.path());
        assert_eq!(json_of(by_file).await["imported"], 1);

        let dry = json_of(import_from_plivo(&db, &base, &workspace, &["--dry-run"])).await;
        assert_eq!(
            dry,
            json!({"dry_run": true, "would_import": ["+14155552671", "+18005550142"],
                   "already_here": [], "held_by_another_workspace": ["+442079460999"]}),
            "{backend:?}"
        );
        assert_eq!(
            *fake.pages.lock().expect("lock"),
            ["0", "2"],
            "every page read"
        );
        let mut export = switchboard(&db);
        export.args(["numbers", "export", "--workspace", &workspace]);
        let before = run(export).await;
        assert_eq!(
            String::from_utf8_lossy(&before.stdout).lines().count(),
            1,
            "a dry run imports nothing"
        );

        let done = json_of(import_from_plivo(&db, &base, &workspace, &[])).await;
        assert_eq!(done["imported"], 2);
        assert_eq!(done["numbers"], json!(["+14155552671", "+18005550142"]));
        assert_eq!(done["held_by_another_workspace"], json!(["+442079460999"]));
        let numbers = exported(&db, &workspace).await;
        // One transaction: the same created_at, so in no particular order.
        let mut facts: Vec<(Value, Value, Value, Value, Value)> = numbers
            .iter()
            .map(|n| {
                (
                    n["phone_number"].clone(),
                    n["type"].clone(),
                    n["monthly_cost_usd"].clone(),
                    n["capabilities"].clone(),
                    n["provider"].clone(),
                )
            })
            .collect();
        facts.sort_by_key(|fact| fact.0.to_string());
        assert_eq!(
            facts,
            [
                (
                    json!("+14155552671"),
                    json!("local"),
                    json!("0.80"),
                    json!(["voice", "sms"]),
                    json!("plivo")
                ),
                (
                    json!("+18005550142"),
                    json!("toll_free"),
                    json!("1.00"),
                    json!(["voice"]),
                    json!("plivo")
                ),
            ],
            "{backend:?}"
        );

        // Again: nothing new.
        let again = json_of(import_from_plivo(&db, &base, &workspace, &[])).await;
        assert_eq!(again["imported"], 0);
        assert_eq!(
            again["already_here"],
            json!(["+14155552671", "+18005550142"])
        );

        // Plivo down, or no credentials: a clear error, and nothing written.
        *fake.down.lock().expect("lock") = true;
        let failed = run(import_from_plivo(&db, &base, &workspace, &[])).await;
        assert!(!failed.status.success());
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            stderr.contains("cannot list the numbers held at plivo")
                && stderr.contains("internal error"),
            "{stderr}"
        );
        let mut bare = switchboard(&db);
        bare.args([
            "numbers",
            "import",
            "--workspace",
            &workspace,
            "--from",
            "plivo",
        ]);
        let refused = run(bare).await;
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .contains("--from plivo needs the Plivo account"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
}

/// The Twilio account's settings, through `proxy` to the fake.
fn twilio_env(command: &mut Command, fake: &FakeTwilio, proxy: &ValidatingProxy) {
    command
        .env("SWITCHBOARD_TWILIO_ACCOUNT_SID", fake_twilio::ACCOUNT_SID)
        .env("SWITCHBOARD_TWILIO_AUTH_TOKEN", fake_twilio::AUTH_TOKEN)
        .env("SWITCHBOARD_TWILIO_BASE_URL", &proxy.url)
        // Twilio's Pricing API is not in the vendored document: asked of the fake directly.
        .env("SWITCHBOARD_TWILIO_PRICING_URL", &fake.url);
}

/// `switchboard numbers import --from twilio` for `workspace`, through `proxy` to the fake.
fn import_from_twilio(
    db: &TestDatabase,
    fake: &FakeTwilio,
    proxy: &ValidatingProxy,
    workspace: &str,
    extra: &[&str],
) -> Command {
    let mut command = switchboard(db);
    twilio_env(&mut command, fake, proxy);
    command
        .args([
            "numbers",
            "import",
            "--workspace",
            workspace,
            "--from",
            "twilio",
        ])
        .args(extra);
    command
}

/// A Twilio account taken over with `--configure`: its numbers listed type by type and page by
/// page (the fake's pages hold two), priced from Twilio's Pricing API, imported once, and their
/// calls pointed at Switchboard; then `numbers reconcile` names a number pointed elsewhere and
/// one nobody here holds, and `--fix` points the first back — every request checked against
/// Twilio's OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_account_is_taken_over_and_its_calls_pointed_here() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let fake = FakeTwilio::start().await;
        let proxy = ValidatingProxy::start(
            &carrier_document("twilio-api-v2010-numbers.json"),
            &fake.url,
        );
        for number in ["+14155550190", "+14155550191", "+14155550192"] {
            fake.hold(number, "Local");
        }
        fake.hold("+18005550190", "TollFree");
        let (workspace, _) = workspace_and_key(&db);
        let public = ["--public-url", "https://switchboard.example.com"];
        let all = [
            "+14155550190",
            "+14155550191",
            "+14155550192",
            "+18005550190",
        ];

        // --configure needs the address the calls should go to.
        let refused = run(import_from_twilio(
            &db,
            &fake,
            &proxy,
            &workspace,
            &["--configure"],
        ))
        .await;
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .contains("--configure needs this server's public address"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );

        let dry = json_of(import_from_twilio(
            &db,
            &fake,
            &proxy,
            &workspace,
            &["--dry-run", "--configure", public[0], public[1]],
        ))
        .await;
        assert_eq!(
            dry,
            json!({"dry_run": true, "would_import": all, "would_configure": all,
                   "already_here": [], "held_by_another_workspace": []}),
            "{backend:?}"
        );
        assert!(
            fake.held().iter().all(|held| held.voice_url.is_none()),
            "a dry run changes nothing"
        );

        let done = json_of(import_from_twilio(
            &db,
            &fake,
            &proxy,
            &workspace,
            &["--configure", public[0], public[1]],
        ))
        .await;
        assert_eq!(done["imported"], 4, "{done}");
        assert_eq!(done["configured"], json!(all));
        assert_eq!(done["configure_failed"], json!([]));
        for held in fake.held() {
            assert_eq!(
                (held.voice_url.as_deref(), held.status_callback.as_deref()),
                (
                    Some("https://switchboard.example.com/carriers/twilio/voice"),
                    Some("https://switchboard.example.com/carriers/twilio/status")
                ),
                "{}",
                held.number.number
            );
        }
        let pages = fake
            .requests()
            .iter()
            .filter(|r| {
                r.starts_with("GET /2010-04-01/Accounts/")
                    && r.contains("IncomingPhoneNumbers/Local.json")
            })
            .count();
        assert!(
            pages >= 2,
            "the Local list is read page by page: {:?}",
            fake.requests()
        );

        let mut facts: Vec<(String, String, String)> = exported(&db, &workspace)
            .await
            .iter()
            .map(|n| {
                (
                    n["phone_number"].as_str().unwrap_or("").to_owned(),
                    n["type"].as_str().unwrap_or("").to_owned(),
                    n["monthly_cost_usd"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        facts.sort();
        assert_eq!(
            facts,
            [
                ("+14155550190".into(), "local".into(), "1.15".into()),
                ("+14155550191".into(), "local".into(), "1.15".into()),
                ("+14155550192".into(), "local".into(), "1.15".into()),
                ("+18005550190".into(), "toll_free".into(), "2.15".into()),
            ]
        );

        // Again: nothing imported, the same address set again.
        let again = json_of(import_from_twilio(
            &db,
            &fake,
            &proxy,
            &workspace,
            &["--configure", public[0], public[1]],
        ))
        .await;
        assert_eq!(again["imported"], 0);
        assert_eq!(again["already_here"], json!(all));
        assert_eq!(again["configured"], json!(all));

        // Someone points one number elsewhere in Twilio's console, and the account buys one
        // outside Switchboard: the reconcile names both, --fix points the first back.
        fake.set_voice_url("+14155550191", Some("https://elsewhere.example.com/voice"));
        fake.hold("+14155550199", "Local");
        let mut check = switchboard(&db);
        twilio_env(&mut check, &fake, &proxy);
        check.args(["numbers", "reconcile", public[0], public[1]]);
        let found = json_of(check).await;
        let carriers = found["carriers"].as_array().expect("carriers");
        assert_eq!(carriers.len(), 1, "{found}");
        assert_eq!(carriers[0]["provider"], json!("twilio"));
        assert_eq!(
            (
                carriers[0]["held_at_carrier"].clone(),
                carriers[0]["here"].clone()
            ),
            (json!(5), json!(4))
        );
        let findings: Vec<(String, String)> = carriers[0]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["phone_number"].as_str().unwrap_or("").to_owned(),
                    f["code"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            findings,
            [
                ("+14155550191".to_owned(), "carrier_drift".to_owned()),
                ("+14155550199".to_owned(), "unknown_at_carrier".to_owned()),
            ]
        );
        // Scoped to the workspace, the number nobody holds is not its business.
        let mut scoped = switchboard(&db);
        twilio_env(&mut scoped, &fake, &proxy);
        scoped.args([
            "numbers",
            "reconcile",
            "--workspace",
            &workspace,
            public[0],
            public[1],
        ]);
        let scoped = json_of(scoped).await;
        assert_eq!(
            scoped["carriers"][0]["findings"].as_array().map(Vec::len),
            Some(1),
            "{scoped}"
        );

        let mut unaddressed = switchboard(&db);
        twilio_env(&mut unaddressed, &fake, &proxy);
        unaddressed.args(["numbers", "reconcile", "--fix"]);
        let refused = run(unaddressed).await;
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .contains("--fix needs this server's public address"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        let mut fix = switchboard(&db);
        twilio_env(&mut fix, &fake, &proxy);
        fix.args(["numbers", "reconcile", "--fix", public[0], public[1]]);
        let fixed = json_of(fix).await;
        assert_eq!(
            fixed["carriers"][0]["fixed"],
            json!(["+14155550191"]),
            "{fixed}"
        );
        assert!(
            fake.held().iter().all(|h| h.number.number == "+14155550199"
                || h.voice_url.as_deref()
                    == Some("https://switchboard.example.com/carriers/twilio/voice")),
            "{:?}",
            fake.held()
        );

        // Twilio down: a clear error, nothing written.
        fake.fail(Some(fake_twilio::Failure::Broken));
        let failed = run(import_from_twilio(&db, &fake, &proxy, &workspace, &[])).await;
        assert!(!failed.status.success());
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            stderr.contains("cannot list the numbers held at twilio")
                && stderr.contains("An internal server error has occurred"),
            "{stderr}"
        );
        proxy.assert_conforming();
    }
}

/// A Telnyx account taken over with `--configure`: its numbers listed page by page, imported
/// once (at 0.00 a month: Telnyx's list of an account's numbers carries no price), and each
/// assigned to the Switchboard TeXML application, created on the way — every request checked
/// against Telnyx's OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telnyx_account_is_taken_over_and_its_calls_pointed_here() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let fake = FakeTelnyx::start().await;
        let proxy = ValidatingProxy::start(&carrier_document("telnyx-v2-numbers.json"), &fake.url);
        fake.hold("+13125550190", "local");
        fake.hold("+13125550191", "local");
        fake.hold("+18885550190", "toll_free");
        let (workspace, _) = workspace_and_key(&db);
        let import = |extra: &[&str]| {
            let mut command = switchboard(&db);
            command
                .env("SWITCHBOARD_TELNYX_API_KEY", fake_telnyx::API_KEY)
                .env("SWITCHBOARD_TELNYX_BASE_URL", &proxy.url)
                .args([
                    "numbers",
                    "import",
                    "--workspace",
                    &workspace,
                    "--from",
                    "telnyx",
                ])
                .args(extra);
            command
        };
        let done = json_of(import(&[
            "--configure",
            "--public-url",
            "https://switchboard.example.com",
        ]))
        .await;
        assert_eq!(done["imported"], 3, "{done}");
        assert_eq!(
            done["configured"],
            json!(["+13125550190", "+13125550191", "+18885550190"])
        );
        let applications = fake.applications();
        assert_eq!(applications.len(), 1);
        assert_eq!(
            applications[0].voice_url,
            "https://switchboard.example.com/carriers/telnyx/voice"
        );
        assert!(
            fake.owned()
                .iter()
                .all(|o| o.connection_id.as_deref() == Some(applications[0].id.as_str())),
            "{:?}",
            fake.owned()
        );
        let again = json_of(import(&[])).await;
        assert_eq!(again["imported"], 0);
        let refused = run({
            let mut bare = switchboard(&db);
            bare.args([
                "numbers",
                "import",
                "--workspace",
                &workspace,
                "--from",
                "telnyx",
            ]);
            bare
        })
        .await;
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .contains("--from telnyx needs the Telnyx account"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        proxy.assert_conforming();
    }
}
