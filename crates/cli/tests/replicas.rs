//! Two `switchboard serve` processes on one database, as a team runs replicas behind a load
//! balancer: on SQLite (one file, two processes) always, and on PostgreSQL when
//! SWITCHBOARD_TEST_DATABASE_URL is set.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
mod common;

use common::{block_on, serve, switchboard};
use switchboard_testkit::{TestDatabase, backends};

fn json_output(mut command: std::process::Command) -> Value {
    let output = command.output().expect("run switchboard");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

async fn purchase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    number: &str,
    country: &str,
    idempotency: Option<&str>,
) -> (u16, Value) {
    let mut request = client
        .post(format!("{base}/v1/organization-phone-numbers/purchase"))
        .bearer_auth(token)
        .json(&json!({"phoneNumber": number, "telephonyProviderId": "sandbox", "countryISO": country}));
    if let Some(key) = idempotency {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_database() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let mut workspaces = Vec::new();
        for i in 0..4 {
            let mut command = switchboard(&db);
            command.args([
                "workspace",
                "create",
                "--name",
                &format!("Team {i}"),
                "--countries",
                "US,CA",
            ]);
            let created = json_output(command);
            workspaces.push(created["api_key"].as_str().expect("key").to_owned());
        }
        let replicas = [serve(&db), serve(&db)];
        let client = reqwest::Client::new();

        // 200 purchases of 50 numbers (4 tries of each), spread over both replicas.
        let numbers: Vec<(String, &str)> = (0..20)
            .map(|i| (format!("+1415555{:04}", 100 + i), "US"))
            .chain((0..20).map(|i| (format!("+1800555{:04}", 100 + i), "US")))
            .chain((0..10).map(|i| (format!("+1416555{:04}", 100 + i), "CA")))
            .collect();
        let mut tasks = Vec::new();
        for attempt in 0..200 {
            let (number, country) = numbers[attempt % numbers.len()].clone();
            let token = workspaces[attempt % workspaces.len()].clone();
            let base = replicas[attempt % 2].base.clone();
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let (status, body) = purchase(&client, &base, &token, &number, country, None).await;
                (number, token, status, body)
            }));
        }
        let mut winners: HashMap<String, (String, String)> = HashMap::new();
        let mut conflicts = 0;
        for task in tasks {
            let (number, token, status, body) = task.await.expect("task");
            match status {
                201 => {
                    let id = body["organizationPhoneNumber"]["id"]
                        .as_str()
                        .expect("id")
                        .to_owned();
                    assert!(
                        winners.insert(number.clone(), (token, id)).is_none(),
                        "{number} was sold twice"
                    );
                }
                409 => conflicts += 1,
                other => panic!("{backend:?}: purchase of {number} answered {other}: {body}"),
            }
        }
        assert_eq!(
            winners.len(),
            numbers.len(),
            "{backend:?}: every number sold exactly once"
        );
        assert_eq!(conflicts, 200 - numbers.len());

        // Every sale is readable from both replicas at once, by its owner only.
        for (token, id) in winners.values() {
            for server in &replicas {
                let response = client
                    .get(format!(
                        "{}/v1/organization-phone-numbers/{id}",
                        server.base
                    ))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(
                    response.status().as_u16(),
                    200,
                    "{backend:?}: {id} on {}",
                    server.base
                );
            }
        }

        // An Idempotency-Key replay on the other replica returns the first answer.
        let token = &workspaces[0];
        let (first_status, first) = purchase(
            &client,
            &replicas[0].base,
            token,
            "+14165550115",
            "CA",
            Some("cross-replica"),
        )
        .await;
        assert_eq!(first_status, 201, "{first}");
        let (again_status, again) = purchase(
            &client,
            &replicas[1].base,
            token,
            "+14165550115",
            "CA",
            Some("cross-replica"),
        )
        .await;
        assert_eq!((again_status, again), (201, first));

        // A key revoked through one replica stops working on the other within a second.
        let created = client
            .post(format!("{}/v1/api-keys", replicas[0].base))
            .bearer_auth(token)
            .json(&json!({"name": "short-lived"}))
            .send()
            .await
            .expect("create key")
            .json::<Value>()
            .await
            .expect("JSON");
        let (key_id, key) = (
            created["id"].as_str().expect("id").to_owned(),
            created["api_key"].as_str().expect("key").to_owned(),
        );
        let list_on_other = |key: String| {
            let client = client.clone();
            let base = replicas[1].base.clone();
            async move {
                client
                    .get(format!("{base}/v1/organization-phone-numbers"))
                    .bearer_auth(key)
                    .send()
                    .await
                    .expect("request")
                    .status()
                    .as_u16()
            }
        };
        // Used on the other replica first, so it sits in that replica's key cache.
        assert_eq!(list_on_other(key.clone()).await, 200);
        let revoked = client
            .delete(format!("{}/v1/api-keys/{key_id}", replicas[0].base))
            .bearer_auth(token)
            .send()
            .await
            .expect("revoke");
        assert_eq!(revoked.status().as_u16(), 200);
        let revoked_at = Instant::now();
        let refused_after = loop {
            if list_on_other(key.clone()).await == 401 {
                break revoked_at.elapsed();
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(3),
                "{backend:?}: still accepted after 3 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            refused_after <= Duration::from_millis(1200),
            "{backend:?}: refused only after {refused_after:?}"
        );

        for server in replicas {
            assert!(server.terminate().success());
        }
    }
}

#[test]
fn serve_refuses_an_unmigrated_or_newer_schema() {
    for backend in backends() {
        let db = block_on(TestDatabase::create(backend));
        // Newer than this build knows.
        block_on(db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)"));
        let mut command = switchboard(&db);
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        let output = command.output().expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("schema is at version 99, newer than this build knows"),
            "{backend:?}: {stderr}"
        );
    }
}
