//! What an attacker tried against the real binary, and what now holds: failed authentication
//! is throttled, live keys per workspace are capped, a slow reader of a long export is not
//! cut off, and the transport's refusals carry the API's envelope.

mod common;

use common::{json_output, serve_with, switchboard, workspace_and_key as workspace};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;
use switchboard_testkit::{ServerProcess, TestDatabase, backends};

/// A client whose requests come from `from` (any address of 127.0.0.0/8 is this machine).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

async fn me(client: &reqwest::Client, server: &ServerProcess, token: &str) -> reqwest::Response {
    client
        .get(format!("{}/v1/me", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_throttled_per_address_and_per_key() {
    let db = TestDatabase::create(backends()[0]).await;
    let (_, token) = workspace(&db);
    let server = serve_with(&db, &["--failed-auth-per-minute", "30"]);
    let attacker = client_from("127.0.0.1");

    // Unknown ids and garbage: 30 plain 401s, then 429s with the rate limit's envelope and
    // headers, without another lookup.
    let mut statuses = Vec::new();
    for i in 0..40 {
        let guess = if i % 2 == 0 {
            format!("k{i:013}:{}", "s".repeat(40))
        } else {
            "garbage".to_owned()
        };
        let response = me(&attacker, &server, &guess).await;
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let headers = response.headers().clone();
            assert!(headers.contains_key("retry-after"), "{headers:?}");
            assert_eq!(headers["x-ratelimit-limit"], "30");
            assert_eq!(headers["x-ratelimit-remaining"], "0");
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["statusCode"], json!(429), "{body}");
            assert_eq!(body["error"], json!("Too Many Requests"));
        }
    }
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
    // The blocked address is refused even with a good key it has not used; another address
    // is not held up.
    assert_eq!(me(&attacker, &server, &token).await.status(), 429);
    let neighbour = client_from("127.0.0.2");
    assert_eq!(me(&neighbour, &server, &token).await.status(), 200);

    // A wrong secret for a real key id: three (a tenth) from fresh addresses, then 429 for
    // wrong secrets only; the right secret keeps working.
    let (key_id, _) = token.split_once(':').expect("id:secret");
    let wrong = format!("{key_id}:{}", "x".repeat(43));
    let mut statuses = Vec::new();
    for n in 10..15 {
        let client = client_from(&format!("127.0.0.{n}"));
        statuses.push(me(&client, &server, &wrong).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    assert_eq!(
        me(&client_from("127.0.0.20"), &server, &token)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_holds_at_most_100_live_keys() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let (workspace, token) = workspace(&db);
        let server = serve_with(&db, &[]);
        let client = reqwest::Client::new();
        let create = |name: String| {
            client
                .post(format!("{}/v1/api-keys", server.base))
                .bearer_auth(&token)
                .json(&json!({"name": name}))
                .send()
        };
        let mut last = None;
        for n in 1..100 {
            let response = create(format!("key {n}")).await.expect("request");
            assert_eq!(response.status(), 201, "key {n}");
            last = Some(response.json::<Value>().await.expect("JSON")["id"].clone());
        }
        let refused = create("one too many".into()).await.expect("request");
        assert_eq!(refused.status(), 409, "{backend:?}");
        let body: Value = refused.json().await.expect("JSON");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("100 live API keys")),
            "{body}"
        );
        // The command line is held to the same rule.
        let mut command = switchboard(&db);
        command.args(["key", "create", "--workspace", &workspace, "--name", "cli"]);
        let output = command.output().expect("run");
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("100 live API keys"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // A revoked key makes room.
        let revoked = client
            .delete(format!(
                "{}/v1/api-keys/{}",
                server.base,
                last.expect("a key").as_str().expect("id")
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(revoked.status(), 200);
        assert_eq!(
            create("room again".into()).await.expect("request").status(),
            201
        );
    }
}

/// A client reading a long export slowly — here, pausing three times the keep-alive timeout
/// with its receive buffer full — gets all of it: the idle timer runs only between requests.
#[test]
fn a_slow_reader_of_a_long_export_gets_all_of_it() {
    use std::io::{Read, Write};
    let db = common::block_on(TestDatabase::create(backends()[0]));
    let (workspace, token) = workspace(&db);
    // 10,000 numbers with the longest nicknames and labels: about 6 MB of CSV, more than the
    // server's send buffer (Linux caps it at 4 MiB) and the small receive buffer below hold.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("numbers.csv");
    let mut csv = String::from("phone_number,nickname,label\n");
    for i in 0..10_000u64 {
        csv.push_str(&format!(
            "+1415{:07},{},{}\n",
            2_000_000 + i,
            "n".repeat(255),
            "l".repeat(255)
        ));
    }
    std::fs::write(&file, csv).expect("write csv");
    let mut import = switchboard(&db);
    import
        .args(["numbers", "import", "--workspace", &workspace])
        .arg(&file);
    assert_eq!(json_output(import)["imported"], json!(10_000));

    // Asks for the export, reads its first bytes, pauses for `pause`, then reads the rest.
    let export_pausing = |server: &ServerProcess, pause: Duration| -> Vec<u8> {
        let address: std::net::SocketAddr = server
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("address");
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket
            .set_recv_buffer_size(16 * 1024)
            .expect("small buffer");
        socket.connect(&address.into()).expect("connect");
        let mut stream: std::net::TcpStream = socket.into();
        write!(
            stream,
            "GET /v1/organization-phone-numbers/export HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut received = vec![0u8; 64 * 1024];
        let mut answer = Vec::new();
        let first = stream.read(&mut received).expect("first bytes");
        answer.extend_from_slice(&received[..first]);
        // The reader pauses; the server's buffers fill and its writes wait.
        std::thread::sleep(pause);
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        // A connection the server gave up on may end in a reset: what arrived is the answer.
        let _ = stream.read_to_end(&mut answer);
        answer
    };

    let server = serve_with(
        &db,
        &[
            "--keep-alive-timeout-secs",
            "1",
            "--header-read-timeout-secs",
            "1",
        ],
    );
    let answer = export_pausing(&server, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..200.min(text.len())]
    );
    // Chunked: count the numbers' lines rather than parse the framing.
    let rows = text.matches(&"n".repeat(255)).count();
    assert_eq!(
        rows,
        10_000,
        "the export was cut off after {} bytes",
        answer.len()
    );
    assert!(text.ends_with("0\r\n\r\n"), "the body did not end");

    // A reader that takes nothing for longer than the write-stall timeout is let go.
    let strict = serve_with(&db, &["--write-stall-timeout-secs", "1"]);
    let answer = export_pausing(&strict, Duration::from_secs(4));
    let rows = String::from_utf8_lossy(&answer)
        .matches(&"n".repeat(255))
        .count();
    assert!(
        rows < 10_000,
        "a stalled reader was waited for: {rows} rows"
    );
}

/// Sends `head` on a new connection and reads what comes back within two seconds.
fn raw_exchange(server: &ServerProcess, head: &str) -> String {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(server.base.trim_start_matches("http://")).expect("connect");
    stream.write_all(head.as_bytes()).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut answer = vec![0u8; 16 * 1024];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// The transport's refusals carry the API's envelope, and come before the body is asked for.
#[test]
fn oversized_requests_are_refused_up_front_with_the_envelope() {
    let db = common::block_on(TestDatabase::create(backends()[0]));
    let (_, token) = workspace(&db);
    let server = serve_with(&db, &[]);

    // A body declared over the limit, waiting for 100 Continue: 413 at once, never 100.
    let answer = raw_exchange(
        &server,
        &format!(
            "POST /v1/agents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""statusCode":413"#), "{answer}");

    // More than 100 headers: 431 with the envelope, not a bare status line.
    let many: String = (0..150).map(|n| format!("X-Filler-{n}: {n}\r\n")).collect();
    let answer = raw_exchange(
        &server,
        &format!("GET /v1/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n{many}\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("more than 100 in number"), "{answer}");
}
