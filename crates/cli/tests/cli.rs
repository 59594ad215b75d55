//! The real `switchboard` binary, as a user or a script runs it.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
mod common;

use common::{SECRET_KEY, block_on};
use switchboard_testkit::{Backend, ServerProcess as Server, TestDatabase, backends};

/// A working directory for the binary, with its database: by default `switchboard.db` in
/// that directory; with [`Sandbox::on`], a test database of the given backend.
struct Sandbox {
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            database: None,
        }
    }

    fn on(backend: Backend) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            database: Some(block_on(TestDatabase::create(backend))),
        }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.db")
    }

    fn database_url(&self) -> String {
        match &self.database {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", self.db_path().display()),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .current_dir(self.dir.path())
            .env("SWITCHBOARD_DATABASE_URL", self.database_url())
            .env_remove("RUST_LOG")
            .env_remove("SWITCHBOARD_LISTEN")
            .env_remove("SWITCHBOARD_PLIVO_AUTH_ID")
            .env_remove("SWITCHBOARD_PLIVO_AUTH_TOKEN");
        match &self.database {
            Some(_) => command.env("SWITCHBOARD_SECRET_KEY", SECRET_KEY),
            None => command.env_remove("SWITCHBOARD_SECRET_KEY"),
        };
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run switchboard")
    }

    /// Runs a command that must succeed and print one JSON object.
    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// Runs a command that must fail; returns its stderr.
    fn failure(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "{args:?} succeeded; stderr: {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed to stdout on failure"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        stderr
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write file");
        path.display().to_string()
    }

    fn workspace(&self) -> (String, String) {
        let created = self.json(&[
            "workspace",
            "create",
            "--name",
            "Acme",
            "--countries",
            "us,IN",
        ]);
        (
            created["workspace_id"]
                .as_str()
                .expect("workspace_id")
                .to_owned(),
            created["api_key"].as_str().expect("api_key").to_owned(),
        )
    }

    fn count_numbers(&self) -> i64 {
        match &self.database {
            Some(db) => block_on(db.scalar("SELECT count(*) FROM phone_numbers")),
            None => rusqlite::Connection::open(self.db_path())
                .expect("open db")
                .query_row("SELECT count(*) FROM phone_numbers", [], |row| row.get(0))
                .expect("count"),
        }
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut command = self.command();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra);
        Server::start(command)
    }
}

fn id_list(value: &Value) -> Vec<String> {
    value["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn workspace_and_key_creation_print_json() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let (workspace, api_key) = sandbox.workspace();
        assert!(
            workspace.starts_with("ws_") && workspace.len() == 15,
            "{workspace}"
        );
        let (key_id, secret) = api_key.split_once(':').expect("key_id:secret");
        assert_eq!(key_id.len(), 14);
        assert!(key_id.bytes().all(|b| b.is_ascii_lowercase()));
        assert!(secret.len() >= 32);

        let key = sandbox.json(&[
            "key",
            "create",
            "--workspace",
            &workspace,
            "--name",
            "reader",
            "--scopes",
            "phone_numbers:read,agents:read",
        ]);
        assert_eq!(key["scopes"], json!(["phone_numbers:read", "agents:read"]));
        let token = key["api_key"].as_str().expect("api_key");
        assert!(token.starts_with(&format!("{}:", key["id"].as_str().expect("id"))));

        let all = sandbox.json(&["key", "create", "--workspace", &workspace]);
        assert_eq!(all["scopes"].as_array().map(Vec::len), Some(8));
    }
}

#[test]
fn command_line_errors_are_one_clear_line() {
    let sandbox = Sandbox::new();
    let (workspace, _) = sandbox.workspace();
    let bad_scope = sandbox.failure(&[
        "key",
        "create",
        "--workspace",
        &workspace,
        "--scopes",
        "phone_numbers:admin",
    ]);
    assert!(
        bad_scope.contains("unknown scope \"phone_numbers:admin\""),
        "{bad_scope}"
    );
    assert_eq!(bad_scope.trim_end().lines().count(), 1, "{bad_scope}");

    let no_workspace = sandbox.failure(&["key", "create", "--workspace", "ws_aaaaaaaaaaaa"]);
    assert!(
        no_workspace.contains("workspace ws_aaaaaaaaaaaa does not exist"),
        "{no_workspace}"
    );

    let bad_country =
        sandbox.failure(&["workspace", "create", "--name", "X", "--countries", "USA"]);
    assert!(
        bad_country.contains("\"USA\" is not an ISO 3166-1 alpha-2 code"),
        "{bad_country}"
    );

    let bad_url = sandbox.failure(&["--database-url", "mysql://localhost/x", "migrate"]);
    assert!(bad_url.contains("unsupported --database-url"), "{bad_url}");

    let missing_file = sandbox.failure(&[
        "numbers",
        "import",
        "--workspace",
        &workspace,
        "/nonexistent.csv",
    ]);
    assert!(
        missing_file.contains("cannot open /nonexistent.csv"),
        "{missing_file}"
    );
}

#[test]
fn import_then_read_back_over_http() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let (workspace, api_key) = sandbox.workspace();
        let file = sandbox.write(
            "numbers.csv",
            "phone_number,provider,monthly_cost_usd,capabilities,nickname,label\n\
         +91 22 3456 7890,twilio,1.15,voice,Mumbai Support,\n\
         +1 800 555 0199,,2,voice|sms,,Main line\n\
         +447400123456,,,,,\n",
        );
        let imported = sandbox.json(&["numbers", "import", "--workspace", &workspace, &file]);
        assert_eq!(imported["imported"], json!(3));
        let ids = id_list(&imported);
        assert_eq!(ids.len(), 3);

        let server = sandbox.serve(&[]);
        let expected = [
            (
                "+912234567890",
                "IN",
                "local",
                "1.15",
                json!(["voice"]),
                json!("Mumbai Support"),
                "twilio",
            ),
            (
                "+18005550199",
                "US",
                "toll_free",
                "2.00",
                json!(["voice", "sms"]),
                json!(null),
                "imported",
            ),
            (
                "+447400123456",
                "GB",
                "mobile",
                "0.00",
                json!(["voice"]),
                json!(null),
                "imported",
            ),
        ];
        // The ids come back in file order.
        for (id, (number, country, kind, cost, caps, nickname, provider)) in
            ids.iter().zip(expected)
        {
            let (status, body) =
                server.get(&format!("/v1/organization-phone-numbers/{id}"), &api_key);
            assert_eq!(status, 200);
            assert_eq!(body["phone_number"], json!(number));
            assert_eq!(body["country_code"], json!(country));
            assert_eq!(body["type"], json!(kind));
            assert_eq!(body["monthly_cost_usd"], json!(cost));
            assert_eq!(body["capabilities"], caps);
            assert_eq!(body["nickname"], nickname);
            assert_eq!(body["provider"], json!(provider));
            assert_eq!(body["status"], json!("active"));
        }
        let status = server.terminate();
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }
}

#[test]
fn a_bad_file_imports_nothing_and_names_every_bad_line() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let (workspace, _) = sandbox.workspace();
        let (other_workspace, _) = sandbox.workspace();
        let taken = sandbox.write("taken.csv", "phone_number\n+14155552671\n");
        sandbox.json(&["numbers", "import", "--workspace", &other_workspace, &taken]);
        assert_eq!(sandbox.count_numbers(), 1);

        let long_nickname = "n".repeat(256);
        let file = sandbox.write(
            "bad.csv",
            &format!(
                "phone_number,nickname\n\
             +912234567890,fine\n\
             +1 555 0000,\n\
             +912234567890,again\n\
             +447400123456,{long_nickname}\n\
             +442071838750,fine\n"
            ),
        );
        let error = sandbox.failure(&["numbers", "import", "--workspace", &workspace, &file]);
        assert!(
            error.starts_with("error: nothing imported: 3 bad lines in"),
            "{error}"
        );
        assert!(
            error.contains("line 3: phone_number \"+1 555 0000\" is not a valid phone number"),
            "{error}"
        );
        assert!(
            error.contains("line 4: phone_number +912234567890 is a duplicate of line 2"),
            "{error}"
        );
        assert!(
            error.contains("line 5: nickname must be shorter than or equal to 255 characters"),
            "{error}"
        );
        assert_eq!(sandbox.count_numbers(), 1, "nothing was imported");

        let registered = sandbox.write(
            "registered.csv",
            "phone_number\n+912234567890\n+1 (415) 555-2671\n",
        );
        let error = sandbox.failure(&["numbers", "import", "--workspace", &workspace, &registered]);
        assert!(error.contains("1 bad line in"), "{error}");
        assert!(
            error.contains("line 3: phone_number +14155552671 is already registered"),
            "{error}"
        );
        assert_eq!(sandbox.count_numbers(), 1, "nothing was imported");

        // A malformed line and a taken number, in a file saved with CRLF: both reported,
        // in one pass, at the lines an editor shows.
        let both = sandbox.write(
            "both.csv",
            "phone_number,nickname\r\n+912234567890,fine\r\n+1 123,bad\r\n+14155552671,taken\r\n",
        );
        let error = sandbox.failure(&["numbers", "import", "--workspace", &workspace, &both]);
        assert!(error.contains("2 bad lines in"), "{error}");
        assert!(
            error.contains("line 3: phone_number \"+1 123\" is not a valid phone number"),
            "{error}"
        );
        assert!(
            error.contains("line 4: phone_number +14155552671 is already registered"),
            "{error}"
        );
        assert_eq!(sandbox.count_numbers(), 1, "nothing was imported");
    }
}

#[test]
fn demo_prints_a_working_key_and_curl_line() {
    let sandbox = Sandbox::new();
    let mut server = sandbox.serve(&["--demo"]);
    let mut stdout = BufReader::new(server.child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    while !banner.contains("Authorization: Bearer") {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("read stdout") == 0 {
            break;
        }
        banner.push_str(&line);
    }
    let key = banner
        .lines()
        .find_map(|line| line.strip_prefix("API key (shown only now): "))
        .expect("the key line")
        .to_owned();
    let curl = banner
        .lines()
        .find(|line| line.contains("curl -s"))
        .expect("curl line");
    let url = curl.split_whitespace().nth(2).expect("url in curl line");
    let path = url
        .strip_prefix(&server.base)
        .expect("curl targets the server");
    let (status, body) = server.get(path, &key);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phone_number"], json!("+912234567890"));
    assert_eq!(body["nickname"], json!("Mumbai Support"));
    // The console the banner points at is served by the same binary.
    let console = banner
        .lines()
        .find_map(|line| line.strip_prefix("Console: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("console line");
    assert_eq!(console, format!("{}/console/", server.base));
    assert!(reqwest_text(console).contains("<title>Switchboard console</title>"));

    // One log line per request, with its request id.
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log.lock().map(|l| l.clone()).unwrap_or_default();
    let served = log
        .lines()
        .find(|l| l.contains("served"))
        .expect("a request log line");
    for part in [
        "method=GET",
        "path=/v1/organization-phone-numbers/",
        "request_id=",
        "status=200",
        "latency_us=",
    ] {
        assert!(served.contains(part), "{part} missing from {served}");
    }
    assert!(
        !log.contains(key.split(':').nth(1).expect("secret")),
        "the secret was logged"
    );
    let status = server.terminate();
    assert!(status.success());

    // A second --demo on the same database adds nothing.
    let again = sandbox.serve(&["--demo"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        again
            .log
            .lock()
            .map(|l| l.contains("no demo data was added"))
            .unwrap_or(false)
    );
    let conn = rusqlite::Connection::open(sandbox.db_path()).expect("open");
    let workspaces: i64 = conn
        .query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))
        .expect("count");
    assert_eq!(workspaces, 1);
}

#[test]
fn migrate_and_schema_version_checks() {
    let sandbox = Sandbox::new();
    assert_eq!(
        sandbox.json(&["migrate"]),
        json!({"from_version": 0, "to_version": switchboard_store::SCHEMA_VERSION})
    );
    assert_eq!(
        sandbox.json(&["migrate"]),
        json!({"from_version": switchboard_store::SCHEMA_VERSION, "to_version": switchboard_store::SCHEMA_VERSION})
    );

    let conn = rusqlite::Connection::open(sandbox.db_path()).expect("open");
    conn.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
        [],
    )
    .expect("stamp a future version");
    drop(conn);
    let error = sandbox.failure(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(
        error.contains("schema is at version 99, newer than this build knows"),
        "{error}"
    );

    let foreign = Sandbox::new();
    let conn = rusqlite::Connection::open(foreign.db_path()).expect("open");
    conn.execute("CREATE TABLE something_else (x)", [])
        .expect("create");
    drop(conn);
    let error = foreign.failure(&["migrate"]);
    assert!(error.contains("not a Switchboard database"), "{error}");
    assert!(Path::new(&foreign.db_path()).exists());
}

#[test]
fn workspace_update_changes_countries_and_kyc() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let (workspace, _) = sandbox.workspace();
        let updated = sandbox.json(&[
            "workspace",
            "update",
            &workspace,
            "--countries",
            "gb,de",
            "--kyc-verified",
            "true",
        ]);
        assert_eq!(updated["countries"], json!(["DE", "GB"]));
        assert_eq!(updated["kyc_verified"], json!(true));
        let only_kyc =
            sandbox.json(&["workspace", "update", &workspace, "--kyc-verified", "false"]);
        assert_eq!(
            (
                only_kyc["countries"].clone(),
                only_kyc["kyc_verified"].clone()
            ),
            (json!(["DE", "GB"]), json!(false))
        );

        let nothing = sandbox.failure(&["workspace", "update", &workspace]);
        assert!(nothing.contains("nothing to change"), "{nothing}");
        let unknown = sandbox.failure(&[
            "workspace",
            "update",
            "ws_aaaaaaaaaaaa",
            "--kyc-verified",
            "true",
        ]);
        assert!(unknown.contains("does not exist"), "{unknown}");
        for bad_code in ["Germany", "XX", "US,ZZ"] {
            let bad =
                sandbox.failure(&["workspace", "update", &workspace, "--countries", bad_code]);
            assert!(
                bad.contains("is not an ISO 3166-1 alpha-2 code of a country with phone numbers"),
                "{bad}"
            );
        }
        let unchanged = sandbox.json(&["workspace", "update", &workspace, "--kyc-verified"]);
        assert_eq!(
            unchanged["countries"],
            json!(["DE", "GB"]),
            "a bad list changed nothing"
        );
        assert_eq!(
            unchanged["kyc_verified"],
            json!(true),
            "a bare --kyc-verified means true"
        );

        // create takes the flag the same two ways.
        for args in [&["--kyc-verified"][..], &["--kyc-verified", "true"][..]] {
            let mut command = vec!["workspace", "create", "--name", "K", "--countries", "IN"];
            command.extend_from_slice(args);
            let created = sandbox.json(&command);
            let id = created["workspace_id"].as_str().expect("id").to_owned();
            let listed = sandbox.json(&["workspace", "list"]);
            let entry = listed["workspaces"]
                .as_array()
                .expect("list")
                .iter()
                .find(|w| w["workspace_id"] == json!(id))
                .cloned()
                .expect("listed");
            assert_eq!(entry["kyc_verified"], json!(true), "{args:?}");
        }
        let not_kyc = sandbox.json(&[
            "workspace",
            "create",
            "--name",
            "N",
            "--kyc-verified",
            "false",
        ]);
        assert!(not_kyc["workspace_id"].is_string());
    }
}

/// A lost demo key is not the end: list workspaces and their keys, make a new key, revoke
/// the old one, all from the command line.
#[test]
fn workspaces_and_keys_can_be_listed_and_revoked() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let (workspace, old_key) = sandbox.workspace();
        let listed = sandbox.json(&["workspace", "list"]);
        let workspaces = listed["workspaces"].as_array().expect("workspaces");
        assert_eq!(workspaces.len(), 1);
        assert_eq!(workspaces[0]["workspace_id"], json!(workspace));
        for field in ["name", "countries", "kyc_verified", "created_at"] {
            assert!(workspaces[0].get(field).is_some(), "{field}");
        }

        let new_key = sandbox.json(&[
            "key",
            "create",
            "--workspace",
            &workspace,
            "--name",
            "again",
        ]);
        let keys = sandbox.json(&["key", "list", "--workspace", &workspace]);
        let names: Vec<&str> = keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["name"].as_str())
            .collect();
        assert_eq!(names, ["default", "again"]);
        assert!(
            !keys
                .to_string()
                .contains(old_key.split(':').nth(1).expect("secret")),
            "no secrets"
        );

        let old_id = old_key.split(':').next().expect("id");
        let revoked = sandbox.json(&["key", "revoke", old_id]);
        assert_eq!(
            revoked,
            json!({"revoked": old_id, "workspace_id": workspace})
        );
        let keys = sandbox.json(&["key", "list", "--workspace", &workspace]);
        assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1));
        let again = sandbox.failure(&["key", "revoke", &old_key]);
        assert!(
            again.contains("does not exist or is already revoked"),
            "{again}"
        );
        let unknown = sandbox.failure(&["key", "revoke", "nosuchkeyatall"]);
        assert!(
            unknown.contains("does not exist or is already revoked"),
            "{unknown}"
        );
        // The whole key is accepted too.
        let whole = new_key["api_key"].as_str().expect("key");
        let revoked = sandbox.json(&["key", "revoke", whole]);
        assert_eq!(revoked["revoked"], new_key["id"]);
        let none = sandbox.failure(&["key", "list", "--workspace", "ws_aaaaaaaaaaaa"]);
        assert!(none.contains("does not exist"), "{none}");
    }
}

/// `--listen` takes a host name as well as an address.
#[test]
fn serve_listens_on_a_host_name() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command.args(["serve", "--listen", "localhost:0"]);
    let server = Server::start(command);
    assert_eq!(server.get("/healthz", "").0, 200);
    // An address in use is named as such, not blamed on its format.
    let taken = server.base.trim_start_matches("http://").to_owned();
    let error = sandbox.failure(&["serve", "--listen", &taken]);
    assert!(
        error.contains("already in use") && !error.contains("expected HOST:PORT"),
        "{error}"
    );
    assert!(server.terminate().success());
    let error = sandbox.failure(&["serve", "--listen", "no-port-here"]);
    assert!(
        error.contains("cannot listen on no-port-here") && error.contains("expected HOST:PORT"),
        "{error}"
    );
    // There is no --port: the error says what to give instead.
    let error = sandbox.failure(&["serve", "--port", "3000"]);
    assert!(error.contains("--listen 127.0.0.1:3000"), "{error}");
}

#[test]
fn serve_creates_a_private_key_file_and_checks_plivo_settings() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&[]);
    let key_file = sandbox.dir.path().join("switchboard.db.key");
    let key = std::fs::read_to_string(&key_file).expect("key file created");
    assert_eq!(key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(server.terminate().success());
    // The same key is used on the next start.
    let again = sandbox.serve(&[]);
    assert!(again.terminate().success());
    assert_eq!(std::fs::read_to_string(&key_file).expect("key file"), key);

    let half = sandbox
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_PLIVO_AUTH_ID", "MAXXXX")
        .env_remove("SWITCHBOARD_PLIVO_AUTH_TOKEN")
        .output()
        .expect("run");
    assert!(!half.status.success());
    assert!(String::from_utf8_lossy(&half.stderr).contains("Plivo needs both"));

    let bad_key = sandbox
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_SECRET_KEY", "not-hex")
        .output()
        .expect("run");
    assert!(!bad_key.status.success());
    assert!(String::from_utf8_lossy(&bad_key.stderr).contains("SWITCHBOARD_SECRET_KEY"));
}

#[test]
fn backup_while_serving_then_restore() {
    let sandbox = Sandbox::new();
    let (workspace, api_key) = sandbox.workspace();
    let file = sandbox.write(
        "numbers.csv",
        "phone_number,nickname\n+912234567890,Mumbai\n+14155552671,SF\n",
    );
    let imported = sandbox.json(&["numbers", "import", "--workspace", &workspace, &file]);
    let ids = id_list(&imported);

    let server = sandbox.serve(&[]);
    // Writes keep coming while the copy is taken.
    let writer = {
        let base = server.base.clone();
        let (key, id) = (api_key.clone(), ids[1].clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = reqwest::Client::new();
                for i in 0..50 {
                    let response = client
                        .patch(format!("{base}/v1/organization-phone-numbers/{id}"))
                        .bearer_auth(&key)
                        .json(&json!({"label": format!("write {i}")}))
                        .send()
                        .await
                        .expect("patch");
                    assert_eq!(response.status().as_u16(), 200);
                }
            });
        })
    };
    let backup_path = sandbox.dir.path().join("backup.db");
    let backup = sandbox.json(&["backup", "--to", &backup_path.display().to_string()]);
    writer.join().expect("writer");
    assert!(backup["bytes"].as_u64().is_some_and(|b| b > 0));
    assert!(server.terminate().success());
    // The key travels with the copy: same key, private file.
    let key_copy = format!("{}.key", backup_path.display());
    assert_eq!(backup["key_file"], json!(key_copy));
    assert_eq!(
        std::fs::read(&key_copy).expect("key copy"),
        std::fs::read(sandbox.dir.path().join("switchboard.db.key")).expect("key")
    );
    assert_eq!(file_mode(Path::new(&key_copy)), 0o600);
    assert_eq!(file_mode(&backup_path), 0o600);

    let again = sandbox.failure(&["backup", "--to", &backup_path.display().to_string()]);
    assert!(again.contains("already exists"), "{again}");
    let nowhere = sandbox.failure(&["backup", "--to", "/no-such-directory/x.db"]);
    assert!(
        nowhere.contains(
            "cannot create the backup /no-such-directory/x.db: No such file or directory"
        ),
        "{nowhere}"
    );

    // Restore: serve the copy. Everything that was there when it was taken is there.
    let conn = rusqlite::Connection::open(&backup_path).expect("open backup");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    drop(conn);
    let restored = Sandbox::new();
    std::fs::copy(&backup_path, restored.db_path()).expect("restore");
    std::fs::copy(&key_copy, restored.dir.path().join("switchboard.db.key")).expect("restore key");
    let server = restored.serve(&[]);
    let (status, body) = server.get(
        &format!("/v1/organization-phone-numbers/{}", ids[0]),
        &api_key,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["nickname"], json!("Mumbai"));
    let (status, body) = server.get(
        &format!("/v1/organization-phone-numbers/{}", ids[1]),
        &api_key,
    );
    assert_eq!(status, 200);
    assert!(
        body["label"].is_null()
            || body["label"]
                .as_str()
                .is_some_and(|l| l.starts_with("write "))
    );
    assert!(server.terminate().success());
}

#[test]
fn secrets_never_reach_the_logs() {
    let sandbox = Sandbox::new();
    let (_, api_key) = sandbox.workspace();
    let mut command = sandbox.command();
    // The carriers' credentials too, with their APIs unreachable (a refused connection), so
    // the failed requests to them are logged.
    let twilio_token = "twilio-auth-token-canary";
    let telnyx_key = "KEYtelnyx-api-key-canary";
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .env(
            "SWITCHBOARD_TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        )
        .env("SWITCHBOARD_TWILIO_AUTH_TOKEN", twilio_token)
        .env("SWITCHBOARD_TWILIO_BASE_URL", "http://127.0.0.1:9")
        .env("SWITCHBOARD_TWILIO_PRICING_URL", "http://127.0.0.1:9")
        .env("SWITCHBOARD_TELNYX_API_KEY", telnyx_key)
        .env("SWITCHBOARD_TELNYX_BASE_URL", "http://127.0.0.1:9");
    let server = Server::start(command);
    let password = "Pl41n-SIP-password-canary";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let new_key = runtime.block_on(async {
        let client = reqwest::Client::new();
        let linked = client
            .post(format!("{}/v1/organization-phone-numbers/sip-trunks", server.base))
            .bearer_auth(&api_key)
            .json(&json!({"phoneNumber": "+14155552671", "terminationUri": "sip.example.com", "sipTrunkUserName": "u", "sipTrunkPassword": password}))
            .send()
            .await
            .expect("link");
        assert_eq!(linked.status().as_u16(), 201);
        // A failing request too: errors must not echo credentials either.
        let wrong = client
            .get(format!("{}/v1/organization-phone-numbers", server.base))
            .bearer_auth(format!("{}x", api_key))
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status().as_u16(), 401);
        for carrier in ["twilio", "telnyx"] {
            let search = client
                .get(format!(
                    "{}/v1/available-phone-numbers?country_iso=US&provider={carrier}",
                    server.base
                ))
                .bearer_auth(&api_key)
                .send()
                .await
                .expect("search");
            assert_eq!(search.status().as_u16(), 502, "{carrier}");
        }
        let created = client
            .post(format!("{}/v1/api-keys", server.base))
            .bearer_auth(&api_key)
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .expect("create key")
            .json::<Value>()
            .await
            .expect("JSON");
        created["api_key"].as_str().expect("key").to_owned()
    });
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log_text();
    assert!(server.terminate().success());
    assert!(log.contains("served"), "the scenario was logged at all");
    let key_file =
        std::fs::read_to_string(sandbox.dir.path().join("switchboard.db.key")).expect("key file");
    for (what, secret) in [
        ("SIP password", password.to_owned()),
        (
            "API key secret",
            api_key
                .split_once(':')
                .map(|(_, s)| s.to_owned())
                .expect("secret"),
        ),
        (
            "new API key secret",
            new_key
                .split_once(':')
                .map(|(_, s)| s.to_owned())
                .expect("secret"),
        ),
        ("secret key", key_file.trim().to_owned()),
        ("Twilio auth token", twilio_token.to_owned()),
        ("Telnyx API key", telnyx_key.to_owned()),
    ] {
        assert!(!log.contains(&secret), "the {what} is in the logs");
    }
}

#[test]
fn slow_clients_do_not_starve_the_others() {
    use std::io::Write;
    let sandbox = Sandbox::new();
    let (workspace, api_key) = sandbox.workspace();
    let file = sandbox.write("numbers.csv", "phone_number\n+912234567890\n");
    let id =
        id_list(&sandbox.json(&["numbers", "import", "--workspace", &workspace, &file]))[0].clone();
    let server = sandbox.serve(&[]);
    let address = server.base.trim_start_matches("http://").to_owned();

    // 256 clients that open a connection and trickle a request, a byte at a time.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut slow = Vec::new();
    for _ in 0..256 {
        let (address, stop) = (address.clone(), stop.clone());
        slow.push(std::thread::spawn(move || {
            let Ok(mut stream) = std::net::TcpStream::connect(&address) else {
                return;
            };
            for byte in b"GET /v1/organization-phone-numbers HTTP/1.1\r\nHost: x\r\n" {
                if stop.load(std::sync::atomic::Ordering::Relaxed)
                    || stream.write_all(&[*byte]).is_err()
                {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile, ordinary clients are answered promptly.
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let (status, body) = server.get(&format!("/v1/organization-phone-numbers/{id}"), &api_key);
        assert_eq!(status, 200, "{body}");
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in slow {
        let _ = client.join();
    }
    assert!(
        took < Duration::from_secs(10),
        "20 requests took {took:?} beside 256 slow clients"
    );
    assert!(server.terminate().success());
}

/// A stand-in for Plivo that answers every search after `delay`, in Plivo's shape.
fn slow_plivo(delay: Duration) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                std::thread::sleep(delay);
                let body = r#"{"api_id":"x","meta":{"total_count":1},"objects":[{"number":"14155552671","type":"fixed","monthly_rental_rate":"0.80000","setup_rate":"0.00000","voice_enabled":true,"sms_enabled":true,"mms_enabled":false}]}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://{address}")
}

#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let sandbox = Sandbox::new();
    let (_, api_key) = sandbox.workspace();
    let plivo = slow_plivo(Duration::from_millis(1500));
    let mut command = sandbox.command();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_PLIVO_AUTH_ID", "MAXXXX")
        .env("SWITCHBOARD_PLIVO_AUTH_TOKEN", "token")
        .env("SWITCHBOARD_PLIVO_BASE_URL", &plivo);
    let server = Server::start(command);
    let base = server.base.clone();
    let in_flight = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(format!(
                    "{base}/v1/organization-phone-numbers/plivo-numbers?country_iso=US"
                ))
                .bearer_auth(&api_key)
                .send()
                .await
                .expect("the in-flight request was answered");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        })
    });
    // SIGTERM while the search waits on Plivo.
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    std::thread::sleep(Duration::from_millis(200));
    // New connections are no longer accepted...
    let refused = std::net::TcpStream::connect(server.base.trim_start_matches("http://"));
    assert!(refused.is_err(), "still accepting after SIGTERM");
    // ...but the request in flight gets its answer, and the process exits 0.
    let (status, body) = in_flight.join().expect("client");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["objects"][0]["number"], json!("+14155552671"));
    let exit = server.terminate_wait();
    assert!(exit.success(), "{exit}");
}

/// `switchboard openapi` prints the committed document (which the API tests hold equal to the
/// generated one), needs no database, and writes nothing beside it.
#[test]
fn openapi_prints_the_committed_document() {
    let dir = tempfile::tempdir().expect("dir");
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(dir.path())
        .arg("openapi")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json"))
        .expect("openapi.json");
    assert!(
        output.stdout == committed,
        "switchboard openapi differs from openapi.json"
    );
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(document["openapi"], json!("3.1.0"));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "printing the document created files"
    );
}

/// A reader that stops early (`switchboard openapi | head -c 100`) ends the output quietly:
/// no panic, no error line, success.
#[test]
fn a_reader_that_goes_away_early_is_not_an_error() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("openapi")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let mut first = [0u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the document starts");
    // The pipe is closed now, long before the document (far more than a pipe holds) is out.
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// Reads from `stream` until the server closes it (or resets it); returns what it sent, or
/// `None` when it was still open after `patience`.
fn read_until_closed(stream: &mut std::net::TcpStream, patience: Duration) -> Option<Vec<u8>> {
    use std::io::Read;
    stream.set_read_timeout(Some(patience)).expect("timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            // A reset is a close too.
            Err(_) => return Some(received),
        }
    }
}

/// A socket that sends nothing, one that sends half a request head, and a kept-alive one
/// left idle after its answer are all closed by the server, while ordinary clients are
/// served meanwhile.
#[test]
fn idle_and_half_sent_connections_are_closed() {
    use std::io::Write;
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&[
        "--header-read-timeout-secs",
        "3",
        "--keep-alive-timeout-secs",
        "1",
    ]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let connect = || std::net::TcpStream::connect(&address).expect("connect");

    let mut silent = connect();
    let mut half = connect();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
        .expect("write");
    let mut kept_alive = connect();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");

    // Ordinary clients meanwhile.
    for _ in 0..5 {
        assert_eq!(server.get("/healthz", "").0, 200);
    }

    // Far longer than both timeouts, far shorter than "never".
    let patience = Duration::from_secs(30);
    assert!(
        read_until_closed(&mut silent, patience).is_some(),
        "a silent socket stays open"
    );
    assert!(
        read_until_closed(&mut half, patience).is_some(),
        "half a request head stays open"
    );
    let answered =
        read_until_closed(&mut kept_alive, patience).expect("an idle keep-alive socket stays open");
    assert!(
        String::from_utf8_lossy(&answered).starts_with("HTTP/1.1 200"),
        "the request was answered before the idle connection closed"
    );
    assert_eq!(server.get("/healthz", "").0, 200);
    assert!(server.terminate().success());
}

/// Past `--max-connections`, a new connection is told 503 in the envelope and closed; once
/// a connection closes, new ones are served again.
#[test]
fn connections_past_the_cap_are_refused_politely() {
    use std::io::Write;
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&["--max-connections", "3", "--header-read-timeout-secs", "60"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(&address).expect("connect"))
        .collect();
    // Let the server accept all three before the fourth.
    std::thread::sleep(Duration::from_millis(300));

    let mut over = std::net::TcpStream::connect(&address).expect("connect");
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let answer =
        read_until_closed(&mut over, Duration::from_secs(30)).expect("closed after the answer");
    let answer = String::from_utf8(answer).expect("UTF-8");
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    let body: Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("body")).expect("JSON");
    assert_eq!(
        body,
        json!({"statusCode": 503, "message": "The server has too many open connections; try again shortly", "error": "Service Unavailable"})
    );

    drop(held);
    let mut served = false;
    // Until the server has seen the held connections close, a new one may still be refused.
    let mut refused_meanwhile = 0;
    for _ in 0..50 {
        let status = block_on(async {
            reqwest::get(format!("{}/healthz", server.base))
                .await
                .map(|r| r.status().as_u16())
                .ok()
        });
        if status == Some(200) {
            served = true;
            break;
        }
        refused_meanwhile += usize::from(status == Some(503));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served, "new connections are served once old ones close");
    let metrics = reqwest_text(&format!("{}/metrics", server.base));
    assert!(
        metrics.contains(&format!(
            "http_connections_refused_total {}",
            1 + refused_meanwhile
        )),
        "{metrics}"
    );
    assert!(server.terminate().success());
}

fn reqwest_text(url: &str) -> String {
    block_on(async {
        reqwest::get(url)
            .await
            .expect("GET")
            .text()
            .await
            .expect("text")
    })
}

/// Permission bits of `path` (0 where Unix modes do not exist).
fn file_mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0
    }
}

/// The database remembers which key sealed its secrets: started without that key file, or
/// with another key, `serve` refuses (and creates no new key) with a message that says
/// what is missing; with the right key it serves.
#[test]
fn a_database_is_never_served_with_a_key_it_was_not_sealed_with() {
    let sandbox = Sandbox::new();
    let (_, api_key) = sandbox.workspace();
    let server = sandbox.serve(&[]);
    let linked = block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/organization-phone-numbers/sip-trunks", server.base))
            .bearer_auth(&api_key)
            .json(&json!({"phoneNumber": "+14155552671", "terminationUri": "zt.plivo.com", "sipTrunkUserName": "u", "sipTrunkPassword": "trunk-secret"}))
            .send()
            .await
            .expect("link")
            .status()
            .as_u16()
    });
    assert_eq!(linked, 201);
    assert!(server.terminate().success());
    let key_file = sandbox.dir.path().join("switchboard.db.key");
    let key = std::fs::read_to_string(&key_file).expect("key");
    let key_id: String = rusqlite::Connection::open(sandbox.db_path())
        .expect("open")
        .query_row("SELECT key_id FROM sealing_key", [], |r| r.get(0))
        .expect("the key id is recorded");
    assert_eq!(key_id.len(), 16);
    assert!(!key.contains(&key_id), "the id is not a piece of the key");

    // The key file lost (a restore without it).
    std::fs::rename(&key_file, sandbox.dir.path().join("elsewhere.key")).expect("move");
    let error = sandbox.failure(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(error.contains("is missing"), "{error}");
    assert!(error.contains(&key_id), "{error}");
    assert!(!key_file.exists(), "no new key was made");

    // Another key.
    let other = "ab".repeat(32);
    let wrong = sandbox
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_SECRET_KEY", &other)
        .output()
        .expect("run");
    assert!(!wrong.status.success());
    let error = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        error.contains(&format!("sealed with key {key_id}")),
        "{error}"
    );

    // A database from before key ids were recorded: the key is tried on a stored secret.
    let conn = rusqlite::Connection::open(sandbox.db_path()).expect("open");
    conn.execute("DELETE FROM sealing_key", [])
        .expect("forget the id");
    drop(conn);
    let wrong = sandbox
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_SECRET_KEY", &other)
        .output()
        .expect("run");
    assert!(!wrong.status.success());
    let error = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        error.contains("cannot open the SIP trunk passwords"),
        "{error}"
    );

    // The right key, given back: served, and its id recorded again.
    std::fs::rename(sandbox.dir.path().join("elsewhere.key"), &key_file).expect("move back");
    let server = sandbox.serve(&[]);
    assert!(server.terminate().success());
    let recorded: String = rusqlite::Connection::open(sandbox.db_path())
        .expect("open")
        .query_row("SELECT key_id FROM sealing_key", [], |r| r.get(0))
        .expect("recorded");
    assert_eq!(recorded, key_id);
}

/// The quick start leaves nothing secret for `git add -A` to pick up, and the database is
/// as private as its key.
#[test]
fn the_database_and_its_key_are_private_and_ignored_by_git() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&["--demo"]);
    assert!(server.terminate().success());
    for name in ["switchboard.db", "switchboard.db.key"] {
        assert_eq!(file_mode(&sandbox.dir.path().join(name)), 0o600, "{name}");
    }
    let gitignore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.gitignore"))
            .expect(".gitignore");
    let ignored = |name: &str| {
        gitignore.lines().map(str::trim).any(|pattern| {
            pattern == name
                || pattern
                    .strip_prefix('*')
                    .is_some_and(|suffix| name.ends_with(suffix))
        })
    };
    for entry in std::fs::read_dir(sandbox.dir.path()).expect("dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(ignored(&name), "{name} would be committed");
    }
}

/// An export read back by `numbers import` into an empty database gives every number back
/// with the same provider, type, cost, capabilities, nickname and label; NDJSON has every
/// field; the summary adds up the same numbers.
#[test]
fn export_then_import_round_trips_and_summary_adds_up() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let (workspace, _) = sandbox.workspace();
        let file = sandbox.write(
            "numbers.csv",
            "phone_number,provider,type,monthly_cost_usd,capabilities,nickname,label\n\
             +912234567890,twilio,local,1.15,voice,\"Mumbai, Support\",in\n\
             +14155552671,telnyx,,0.10,voice|sms,\"say \"\"hi\"\"\",\n\
             +18005550199,twilio,toll_free,0.20,sms,,us\n",
        );
        sandbox.json(&["numbers", "import", "--workspace", &workspace, &file]);

        let exported = sandbox.run(&["numbers", "export", "--workspace", &workspace]);
        assert!(
            exported.status.success(),
            "{}",
            String::from_utf8_lossy(&exported.stderr)
        );
        let csv = String::from_utf8(exported.stdout).expect("UTF-8");
        assert_eq!(csv.lines().count(), 4, "{csv}");

        let summary = sandbox.json(&[
            "numbers",
            "summary",
            "--workspace",
            &workspace,
            "--group-by",
            "provider",
        ]);
        assert_eq!(summary["count"], json!(3));
        assert_eq!(summary["monthly_cost_usd"], json!("1.45"));
        assert_eq!(
            summary["groups"],
            json!([
                {"provider": "telnyx", "count": 1, "monthly_cost_usd": "0.10"},
                {"provider": "twilio", "count": 2, "monthly_cost_usd": "1.35"},
            ])
        );
        let bad = sandbox.failure(&[
            "numbers",
            "summary",
            "--workspace",
            &workspace,
            "--group-by",
            "colour",
        ]);
        assert!(
            bad.contains("--group-by: group_by must be a comma-separated list of"),
            "{bad}"
        );

        let elsewhere = Sandbox::on(backend);
        let (target, _) = elsewhere.workspace();
        let export_file = elsewhere.write("export.csv", &csv);
        let imported = elsewhere.json(&["numbers", "import", "--workspace", &target, &export_file]);
        assert_eq!(imported["imported"], json!(3));
        let ndjson = |sandbox: &Sandbox, workspace: &str| -> Vec<Value> {
            let output = sandbox.run(&[
                "numbers",
                "export",
                "--workspace",
                workspace,
                "--format",
                "ndjson",
            ]);
            assert!(output.status.success());
            String::from_utf8(output.stdout)
                .expect("UTF-8")
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON line"))
                .collect()
        };
        // One import is one moment: numbers of the same time come in id order, which differs
        // between the two databases, so they are compared by number.
        let kept = |numbers: Vec<Value>| -> Vec<String> {
            let mut kept: Vec<String> = numbers
                .into_iter()
                .map(|n| {
                    json!([
                        n["phone_number"],
                        n["provider"],
                        n["type"],
                        n["monthly_cost_usd"],
                        n["capabilities"],
                        n["nickname"],
                        n["label"]
                    ])
                    .to_string()
                })
                .collect();
            kept.sort();
            kept
        };
        let original = ndjson(&sandbox, &workspace);
        assert_eq!(original.len(), 3);
        assert_eq!(
            original[0].as_object().map(|o| o.len()),
            Some(18),
            "every field"
        );
        assert_eq!(kept(ndjson(&elsewhere, &target)), kept(original));
    }
}

/// A PostgreSQL that does not answer is named with its address and why, never its password.
#[test]
fn an_unreachable_postgresql_is_named_with_its_address_and_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let sandbox = Sandbox::new();
    let url = format!("postgres://switchboard:s3cret@127.0.0.1:{closed}/none");
    let error = sandbox.failure(&["--database-url", &url, "workspace", "list"]);
    assert!(
        error.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{closed}"))
            && error.contains("refused"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");
}

/// Every argument of every command says what it is in `--help`.
#[test]
fn every_argument_has_help() {
    let sandbox = Sandbox::new();
    for (command, arguments) in [
        (vec!["workspace", "create"], vec!["--name <NAME>"]),
        (vec!["workspace", "update"], vec!["<WORKSPACE>"]),
        (
            vec!["key", "create"],
            vec!["--workspace <WORKSPACE>", "--name <NAME>"],
        ),
        (vec!["key", "list"], vec!["--workspace <WORKSPACE>"]),
        (vec!["key", "revoke"], vec!["<KEY>"]),
        (
            vec!["numbers", "import"],
            vec![
                "--workspace <WORKSPACE>",
                "[FILE]",
                "--from <FROM>",
                "--dry-run",
            ],
        ),
        (
            vec!["numbers", "export"],
            vec!["--workspace <WORKSPACE>", "--format <FORMAT>"],
        ),
    ] {
        let mut args = command.clone();
        args.push("--help");
        let output = sandbox.run(&args);
        let help = String::from_utf8_lossy(&output.stdout).into_owned();
        for argument in arguments {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(argument))
                .unwrap_or_else(|| panic!("{command:?}: no {argument} in\n{help}"));
            let rest = line.trim_start()[argument.len()..].trim();
            // The help is on the same line or on the next one (clap wraps long ones).
            let next = help
                .lines()
                .skip_while(|l| *l != line)
                .nth(1)
                .unwrap_or("")
                .trim();
            assert!(
                !rest.is_empty() || (!next.is_empty() && !next.starts_with('-')),
                "{command:?}: {argument} has no help:\n{help}"
            );
        }
    }
}
