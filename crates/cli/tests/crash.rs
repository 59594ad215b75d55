//! Nothing acknowledged is lost: the real binary is killed with SIGKILL at random moments
//! while several clients buy numbers and re-label them, 20 times over, on each backend.
//! Afterwards every purchase that got a 201 is there, every number carries its last
//! acknowledged label (or one sent after it, whose answer the kill swallowed), no number is
//! held twice, and SQLite's file passes `PRAGMA integrity_check`.

use rand::Rng;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
mod common;

use common::{serve, switchboard};
use switchboard_testkit::{Backend, TestDatabase, backends};

const ROUNDS: usize = 20;
const WORKERS: usize = 3;

/// What one worker sent and what it was told, for the numbers it owns.
#[derive(Default)]
struct Ledger {
    /// number → id, for purchases answered 201.
    bought: HashMap<String, String>,
    /// Numbers whose purchase was cut off by a kill: bought or not, nobody can say (the
    /// claim and the Idempotency-Key stay pending until they go stale), so the worker moves on.
    unknown: HashSet<String>,
    /// id → labels in the order sent, each with whether its 200 arrived.
    labels: HashMap<String, Vec<(String, bool)>>,
}

/// Buys its own numbers one by one and re-labels what it has, until the server dies.
async fn work(
    base: String,
    token: String,
    numbers: Vec<(String, &'static str)>,
    ledger: Arc<Mutex<Ledger>>,
    round: usize,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut sent = 0;
    loop {
        let next = {
            let ledger = ledger.lock().expect("ledger");
            numbers
                .iter()
                .find(|(n, _)| !ledger.bought.contains_key(n) && !ledger.unknown.contains(n))
                .cloned()
        };
        if let Some((number, country)) = next {
            // Until an answer arrives, the outcome is unknown.
            ledger
                .lock()
                .expect("ledger")
                .unknown
                .insert(number.clone());
            let Ok(response) = client
                .post(format!("{base}/v1/organization-phone-numbers/purchase"))
                .bearer_auth(&token)
                .header("idempotency-key", format!("buy-{number}"))
                .json(&json!({"phoneNumber": number, "telephonyProviderId": "sandbox", "countryISO": country}))
                .send()
                .await
            else {
                return;
            };
            let status = response.status().as_u16();
            let Ok(body) = response.json::<Value>().await else {
                return;
            };
            match status {
                201 => {
                    let id = body["organizationPhoneNumber"]["id"]
                        .as_str()
                        .expect("id")
                        .to_owned();
                    let mut ledger = ledger.lock().expect("ledger");
                    ledger.unknown.remove(&number);
                    ledger.bought.insert(number, id);
                }
                // Each number is asked for once, by its own worker: nothing may refuse it.
                other => panic!("purchase of {number} answered {other}: {body}"),
            }
        }
        let target = {
            let ledger = ledger.lock().expect("ledger");
            let ids: Vec<String> = ledger.bought.values().cloned().collect();
            (!ids.is_empty()).then(|| ids[rand::rng().random_range(0..ids.len())].clone())
        };
        if let Some(id) = target {
            sent += 1;
            let label = format!("r{round}-{sent}");
            ledger
                .lock()
                .expect("ledger")
                .labels
                .entry(id.clone())
                .or_default()
                .push((label.clone(), false));
            let Ok(response) = client
                .patch(format!("{base}/v1/organization-phone-numbers/{id}"))
                .bearer_auth(&token)
                .json(&json!({"label": label}))
                .send()
                .await
            else {
                return;
            };
            if response.status().as_u16() == 200 && response.json::<Value>().await.is_ok() {
                if let Some(entry) = ledger
                    .lock()
                    .expect("ledger")
                    .labels
                    .get_mut(&id)
                    .and_then(|l| l.last_mut())
                {
                    entry.1 = true;
                }
            } else {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_loses_nothing_acknowledged() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let mut command = switchboard(&db);
        command.args([
            "workspace",
            "create",
            "--name",
            "Crash",
            "--countries",
            "US,CA",
        ]);
        let output = command.output().expect("workspace create");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = serde_json::from_slice::<Value>(&output.stdout).expect("JSON")["api_key"]
            .as_str()
            .expect("key")
            .to_owned();

        // 60 sandbox numbers, 20 per worker.
        let all: Vec<(String, &'static str)> = (0..20)
            .map(|i| (format!("+1415555{:04}", 100 + i), "US"))
            .chain((0..20).map(|i| (format!("+1800555{:04}", 100 + i), "US")))
            .chain((0..20).map(|i| (format!("+1416555{:04}", 100 + i), "CA")))
            .collect();
        let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..WORKERS).map(|_| Arc::default()).collect();

        for round in 0..ROUNDS {
            let mut server = serve(&db);
            let mut tasks = Vec::new();
            for (w, ledger) in ledgers.iter().enumerate() {
                let mine: Vec<(String, &'static str)> =
                    all.iter().skip(w).step_by(WORKERS).cloned().collect();
                tasks.push(tokio::spawn(work(
                    server.base.clone(),
                    token.clone(),
                    mine,
                    ledger.clone(),
                    round,
                )));
            }
            let pause = rand::rng().random_range(100..400);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            server.child.kill().expect("SIGKILL");
            server.child.wait().expect("wait");
            for task in tasks {
                task.await.expect("worker");
            }
        }

        let server = serve(&db);
        let client = reqwest::Client::new();
        let mut checked_numbers = 0;
        for ledger in &ledgers {
            let (bought, labels) = {
                let ledger = ledger.lock().expect("ledger");
                (ledger.bought.clone(), ledger.labels.clone())
            };
            for (number, id) in &bought {
                let response = client
                    .get(format!(
                        "{}/v1/organization-phone-numbers/{id}",
                        server.base
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("get");
                assert_eq!(
                    response.status().as_u16(),
                    200,
                    "{backend:?}: acknowledged purchase of {number} lost"
                );
                let body: Value = response.json().await.expect("JSON");
                assert_eq!(body["phone_number"], json!(number));
                let sent = labels.get(id).cloned().unwrap_or_default();
                let last_acked = sent.iter().rposition(|(_, acked)| *acked);
                let allowed: Vec<Value> = match last_acked {
                    Some(i) => sent[i..].iter().map(|(l, _)| json!(l)).collect(),
                    None => std::iter::once(Value::Null)
                        .chain(sent.iter().map(|(l, _)| json!(l)))
                        .collect(),
                };
                assert!(
                    allowed.contains(&body["label"]),
                    "{backend:?}: {number} has label {} but the last acknowledged was {:?}",
                    body["label"],
                    last_acked.map(|i| &sent[i].0)
                );
                checked_numbers += 1;
            }
        }
        let acked_labels: usize = ledgers
            .iter()
            .map(|l| {
                l.lock()
                    .map(|l| {
                        l.labels
                            .values()
                            .flatten()
                            .filter(|(_, acked)| *acked)
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum();
        eprintln!(
            "{backend:?}: {checked_numbers} acknowledged purchases and {acked_labels} acknowledged labels checked after {ROUNDS} kills"
        );
        assert!(
            checked_numbers > 0,
            "{backend:?}: no purchase was acknowledged in {ROUNDS} rounds"
        );
        assert!(
            acked_labels > 0,
            "{backend:?}: no label change was acknowledged in {ROUNDS} rounds"
        );
        assert!(server.terminate().success());
        assert_eq!(
            db.scalar("SELECT count(*) - count(DISTINCT phone_number) FROM phone_numbers")
                .await,
            0,
            "a number is held twice"
        );
        if backend == Backend::Sqlite {
            let path = db.sqlite_path().expect("sqlite path");
            let conn = rusqlite::Connection::open(path).expect("open");
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .expect("check");
            assert_eq!(check, "ok");
        }
    }
}
