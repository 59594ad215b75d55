//! Two `switchboard serve` processes on one database, as a team runs replicas behind a load
//! balancer: on SQLite (one file, two processes) always, and on PostgreSQL when
//! SWITCHBOARD_TEST_DATABASE_URL is set.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
mod common;

use common::{block_on, json_output, serve, switchboard};
use switchboard_testkit::{TestDatabase, backends};

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

/// The visibility guarantee (docs/operations.md, "Replicas"): a change is seen by every request
/// that starts after the change's 2xx answer — on the replica that made it, on the other
/// replica, and after a command-line write (`numbers import`, `workspace update`) to the
/// database both serve. Each read below comes right after the write, without waiting: a
/// cache of numbers or workspaces in a replica would fail it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_change_is_seen_at_once_by_both_replicas() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let mut command = switchboard(&db);
        command.args(["workspace", "create", "--name", "Seen", "--countries", "US"]);
        let created = json_output(command);
        let token = created["api_key"].as_str().expect("key").to_owned();
        let workspace = created["workspace_id"].as_str().expect("id").to_owned();
        let replicas = [serve(&db), serve(&db)];
        let client = reqwest::Client::new();
        let get = |replica: usize, id: String| {
            let request = client
                .get(format!(
                    "{}/v1/organization-phone-numbers/{id}",
                    replicas[replica].base
                ))
                .bearer_auth(&token);
            async move {
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("JSON"))
            }
        };

        // A purchase, then reads on both replicas.
        let (status, bought) = purchase(
            &client,
            &replicas[0].base,
            &token,
            "+14155550119",
            "US",
            None,
        )
        .await;
        assert_eq!(status, 201, "{bought}");
        let id = bought["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        for replica in [0, 1] {
            assert_eq!(get(replica, id.clone()).await.0, 200, "{backend:?}");
        }

        // Updates through either replica, each read back at once from both.
        for round in 0..20 {
            let writer = round % 2;
            let nickname = format!("Round {round}");
            let updated = client
                .patch(format!(
                    "{}/v1/organization-phone-numbers/{id}",
                    replicas[writer].base
                ))
                .bearer_auth(&token)
                .json(&json!({ "nickname": nickname }))
                .send()
                .await
                .expect("patch");
            assert_eq!(updated.status().as_u16(), 200);
            for reader in [writer, 1 - writer] {
                let (status, body) = get(reader, id.clone()).await;
                assert_eq!(
                    (status, body["nickname"].clone()),
                    (200, json!(nickname)),
                    "{backend:?}: replica {reader} after a PATCH through {writer}"
                );
            }
        }

        // A release through one replica is a 404 on both.
        let released = client
            .delete(format!(
                "{}/v1/organization-phone-numbers/{id}",
                replicas[1].base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("delete");
        assert_eq!(released.status().as_u16(), 200);
        for replica in [0, 1] {
            assert_eq!(get(replica, id.clone()).await.0, 404, "{backend:?}");
        }

        // The command line writes to the database while both replicas serve.
        let csv = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(
            csv.path(),
            "phone_number,provider,nickname\n+12125550142,twilio,From the CLI\n",
        )
        .expect("write CSV");
        let mut command = switchboard(&db);
        command.args(["numbers", "import", "--workspace", &workspace]);
        command.arg(csv.path());
        let imported = json_output(command);
        let imported_id = imported["ids"][0].as_str().expect("id").to_owned();
        for replica in [0, 1] {
            let (status, body) = get(replica, imported_id.clone()).await;
            assert_eq!(
                (status, body["nickname"].clone()),
                (200, json!("From the CLI")),
                "{backend:?}: replica {replica} after numbers import"
            );
        }

        let mut command = switchboard(&db);
        command.args(["workspace", "update", &workspace, "--countries", "CA"]);
        json_output(command);
        for replica in [0, 1] {
            let (status, body) = purchase(
                &client,
                &replicas[replica].base,
                &token,
                "+14155550118",
                "US",
                None,
            )
            .await;
            assert!(
                status == 400
                    && body["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("enabled")),
                "{backend:?}: replica {replica} still sells in US after workspace update: {status} {body}"
            );
        }

        for server in replicas {
            assert!(server.terminate().success());
        }
    }
}
