//! People, with the real binary: `switchboard user …`, passwords kept out of logs and the
//! database, sign-in throttled per client address, and a removed person's session ending on
//! another replica.

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
mod common;

use common::{block_on, json_output, serve, serve_with, switchboard, workspace_and_key};
use switchboard_testkit::{Backend, TestDatabase, backends};

const PASSWORD: &str = "Tr0ub4dor&3 horse staple";

/// Runs `command` with `input` on standard input; its output.
fn with_stdin(mut command: Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchboard");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// `switchboard user create` with the password on standard input; the user it prints.
fn create_user(db: &TestDatabase, workspace: &str, email: &str, role: &str) -> Value {
    let mut command = switchboard(db);
    command.args([
        "user",
        "create",
        "--workspace",
        workspace,
        "--email",
        email,
        "--role",
        role,
        "--password-stdin",
    ]);
    let output = with_stdin(command, &format!("{PASSWORD}\n"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
    printed["user"].clone()
}

/// Signs in at `base`; the `Cookie` header value its answer sets, and the forgery token.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request")
}

fn cookies_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn user_commands_print_json_and_refuse_bad_input_clearly() {
    let db = block_on(TestDatabase::create(Backend::Sqlite));
    let (workspace, _) = workspace_and_key(&db);
    let ann = create_user(&db, &workspace, "Ann@Example.com", "operator");
    assert_eq!(ann["email"], json!("ann@example.com"));
    assert_eq!(ann["role"], json!("operator"));
    assert_eq!(ann["has_password"], json!(true));

    let mut invite = switchboard(&db);
    invite.args([
        "user",
        "create",
        "--workspace",
        &workspace,
        "--email",
        "bob@example.com",
        "--role",
        "viewer",
        "--console-url",
        "https://sb.example.com/",
    ]);
    let invited = json_output(invite);
    assert_eq!(invited["user"]["has_password"], json!(false));
    assert!(
        invited["password_setup_link"]
            .as_str()
            .is_some_and(|link| link.starts_with("https://sb.example.com/console/#set-password=")),
        "{invited}"
    );

    let mut update = switchboard(&db);
    update.args(["user", "update", "bob@example.com", "--role", "admin"]);
    assert_eq!(json_output(update)["user"]["role"], json!("admin"));
    let mut list = switchboard(&db);
    list.args(["user", "list", "--workspace", &workspace]);
    let listed = json_output(list);
    assert_eq!(listed["users"].as_array().map(Vec::len), Some(2));

    let failure = |args: &[&str], stdin: &str| {
        let mut command = switchboard(&db);
        command.args(args);
        let output = with_stdin(command, stdin);
        assert!(!output.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let create = [
        "user",
        "create",
        "--workspace",
        &workspace,
        "--role",
        "viewer",
        "--email",
    ];
    let taken = failure(&[&create[..], &["ann@example.com"]].concat(), "");
    assert!(
        taken.contains("someone already signs in as ann@example.com"),
        "{taken}"
    );
    let bad = failure(&[&create[..], &["ann"]].concat(), "");
    assert!(bad.contains("is not an email address"), "{bad}");
    let short = failure(
        &[&create[..], &["cy@example.com", "--password-stdin"]].concat(),
        "short\n",
    );
    assert!(short.contains("at least 12 characters"), "{short}");
    let role = failure(
        &["user", "update", "ann@example.com", "--role", "owner"],
        "",
    );
    assert!(role.contains("unknown role \"owner\""), "{role}");
    let nobody = failure(&["user", "remove", "usr_aaaaaaaaaaaa"], "");
    assert!(nobody.contains("no user \"usr_aaaaaaaaaaaa\""), "{nobody}");

    // Our own errors are one line (clap's, like the role's, add a hint to --help).
    for stderr in [&taken, &bad, &short, &nobody] {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let mut remove = switchboard(&db);
    remove.args(["user", "remove", ann["id"].as_str().expect("id")]);
    assert_eq!(json_output(remove)["removed"], ann["id"]);
}

/// The password goes in on standard input and out as an argon2id hash: not in the server's
/// log (at debug level), not in the database file or its write-ahead log, for a right or a
/// wrong sign-in.
#[test]
fn passwords_never_reach_the_log_or_the_database() {
    let db = block_on(TestDatabase::create(Backend::Sqlite));
    let (workspace, _) = workspace_and_key(&db);
    create_user(&db, &workspace, "ann@example.com", "admin");
    let mut command = switchboard(&db);
    command
        .env("RUST_LOG", "debug")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = switchboard_testkit::ServerProcess::start(command);
    let wrong = "a wrong password, typed with care";
    block_on(async {
        let client = reqwest::Client::new();
        let right = sign_in(&client, &server.base, "ann@example.com", PASSWORD).await;
        assert_eq!(right.status(), 204);
        let cookies = cookies_of(&right);
        let secret = cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("switchboard_session="))
            .expect("session cookie")
            .to_owned();
        let failed = sign_in(&client, &server.base, "ann@example.com", wrong).await;
        assert_eq!(failed.status(), 401);
        let me = client
            .get(format!("{}/v1/me", server.base))
            .header("cookie", &cookies)
            .send()
            .await
            .expect("request");
        assert_eq!(me.status(), 200);
        let log = server.log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(
            log.contains("/auth/login"),
            "the log has the requests: {log}"
        );
        for secret_text in [PASSWORD, wrong, secret.as_str()] {
            assert!(!log.contains(secret_text), "{secret_text:?} is in the log");
        }
        let path = db.url.strip_prefix("sqlite://").expect("a SQLite URL");
        for file in [path.to_owned(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for secret_text in [PASSWORD, wrong, secret.as_str()] {
                assert!(
                    !bytes
                        .windows(secret_text.len())
                        .any(|w| w == secret_text.as_bytes()),
                    "{secret_text:?} is in {file}"
                );
            }
            assert!(
                bytes.windows(9).any(|w| w == b"$argon2id"),
                "the hash is in {file}"
            );
        }
    });
}

#[test]
fn failed_sign_ins_from_one_address_are_throttled() {
    let db = block_on(TestDatabase::create(Backend::Sqlite));
    let (workspace, _) = workspace_and_key(&db);
    create_user(&db, &workspace, "ann@example.com", "viewer");
    let server = serve_with(&db, &["--failed-auth-per-minute", "3"]);
    block_on(async {
        let client = reqwest::Client::new();
        // Different addresses each time: the per-person lockout plays no part.
        for i in 0..3 {
            let reply = sign_in(
                &client,
                &server.base,
                &format!("guess{i}@example.com"),
                PASSWORD,
            )
            .await;
            assert_eq!(reply.status(), 401, "attempt {i}");
        }
        let throttled = sign_in(&client, &server.base, "guess9@example.com", PASSWORD).await;
        assert_eq!(throttled.status(), 429);
        assert!(throttled.headers().contains_key("retry-after"));
        // Even the right pair waits: the address is over its budget.
        let right = sign_in(&client, &server.base, "ann@example.com", PASSWORD).await;
        assert_eq!(right.status(), 429);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_person_is_signed_out_on_the_other_replica_at_once() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let (workspace, _) = workspace_and_key(&db);
        create_user(&db, &workspace, "otto@example.com", "operator");
        let replicas = [serve(&db), serve(&db)];
        let client = reqwest::Client::new();
        let signed_in = sign_in(&client, &replicas[0].base, "otto@example.com", PASSWORD).await;
        assert_eq!(signed_in.status(), 204);
        let cookies = cookies_of(&signed_in);
        let me = |base: String| {
            let (client, cookies) = (client.clone(), cookies.clone());
            async move {
                client
                    .get(format!("{base}/v1/me"))
                    .header("cookie", cookies)
                    .send()
                    .await
                    .expect("request")
                    .status()
            }
        };
        assert_eq!(me(replicas[1].base.clone()).await, 200);

        let mut remove = switchboard(&db);
        remove.args(["user", "remove", "otto@example.com"]);
        let removed = tokio::task::spawn_blocking(move || json_output(remove))
            .await
            .expect("remove");
        assert!(removed["removed"].is_string());
        // The very next request, on the replica that did not remove anyone.
        assert_eq!(me(replicas[1].base.clone()).await, 401, "{backend:?}");
        assert_eq!(me(replicas[0].base.clone()).await, 401, "{backend:?}");
    }
}
