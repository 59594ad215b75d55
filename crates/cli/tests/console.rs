//! The web console, driven in headless Chromium (Debian's `chromium` and `chromium-driver`)
//! through WebDriver, against the real binary on a fresh SQLite database: what an operator
//! does, click by click. Screenshots of each page go to `docs/console/` (the README shows
//! them).
//!
//! Without `chromedriver` the test says so and passes only when
//! SWITCHBOARD_TEST_BROWSER is not `required`; `.ci/run` sets it, so CI fails instead.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard_testkit::ServerProcess;
mod common;

use common::json_output;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const XSS: &str = "<img src=x onerror=alert(1)>";

struct Setup {
    _dir: tempfile::TempDir,
    server: ServerProcess,
    key: String,
    database_url: String,
    workspace: String,
}

fn switchboard(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .env("SWITCHBOARD_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn,switchboard=info")
        .env_remove("SWITCHBOARD_SECRET_KEY")
        .env_remove("SWITCHBOARD_PLIVO_AUTH_ID")
        .env_remove("SWITCHBOARD_PLIVO_AUTH_TOKEN");
    command
}

/// Twilio's auth token for the server: the test plays a call as Twilio.
const TWILIO_TOKEN: &str = "console-test-twilio-token";

/// Posts a Twilio request to the server, signed as Twilio signs it.
async fn twilio(setup: &Setup, path: &str, params: &[(&str, &str)]) -> String {
    common::twilio_request(&setup.server.base, TWILIO_TOKEN, path, params).await
}

fn setup() -> Setup {
    setup_with("127.0.0.1:0", |_| Vec::new())
}

/// [`setup`], the server listening on `listen` with the flags `extra` gives for the workspace.
fn setup_with(listen: &str, extra: impl FnOnce(&str) -> Vec<String>) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("console.db").display());
    let mut create = switchboard(&database_url);
    create.args([
        "workspace",
        "create",
        "--name",
        "Acme Voice",
        "--countries",
        "US,GB,IN",
    ]);
    let created = json_output(create);
    // 24 numbers, so the table has two pages of 20.
    let mut csv = String::from("phone_number,provider,monthly_cost_usd,nickname,label\n");
    for i in 0..23 {
        csv.push_str(&format!(
            "+1212555{:04},twilio,1.15,Line {i:02},{}\n",
            100 + i,
            if i % 2 == 0 { "sales" } else { "support" }
        ));
    }
    csv.push_str(&format!("+442071838750,twilio,2.50,\"{XSS}\",london\n"));
    let file = dir.path().join("numbers.csv");
    std::fs::write(&file, csv).expect("write CSV");
    let workspace = created["workspace_id"]
        .as_str()
        .expect("workspace")
        .to_owned();
    let mut import = switchboard(&database_url);
    import.args(["numbers", "import", "--workspace", &workspace]);
    import.arg(&file);
    json_output(import);
    let mut serve = switchboard(&database_url);
    serve.args([
        "serve",
        "--listen",
        listen,
        "--rate-limit-per-minute",
        "0",
        "--webhooks-allow-loopback",
        "--twilio-auth-token",
        TWILIO_TOKEN,
    ]);
    serve.args(extra(&workspace));
    Setup {
        server: ServerProcess::start(serve),
        key: created["api_key"].as_str().expect("key").to_owned(),
        _dir: dir,
        database_url,
        workspace,
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

async fn browser() -> Option<(Driver, Client)> {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        let required = std::env::var("SWITCHBOARD_TEST_BROWSER").as_deref() == Ok("required");
        assert!(
            !required,
            "SWITCHBOARD_TEST_BROWSER=required but {CHROMEDRIVER} or {CHROMIUM} is missing \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED: the console's browser test needs chromium and chromium-driver \
             (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = free_port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars", "--lang=en-US"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("start a Chromium session");
    Some((driver, client))
}

/// Where to write screenshots: only when `SWITCHBOARD_SCREENSHOTS` names a directory (e.g.
/// `docs/console` to refresh the README's pictures), so that running the suite never
/// rewrites tracked files.
fn screenshots_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SWITCHBOARD_SCREENSHOTS").filter(|d| !d.is_empty())?;
    Some(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir),
    )
}

/// The page as a user first sees it: without a notice left over from the step before.
async fn screenshot(client: &Client, name: &str) {
    let Some(dir) = screenshots_dir() else {
        return;
    };
    client
        .execute(
            "const t = document.getElementById('toast'); if (t) { t.textContent = ''; }",
            vec![],
        )
        .await
        .expect("hide the toast");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::create_dir_all(&dir).expect("screenshots directory");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("save screenshot");
}

/// The page has no line that reads just "null" (a part left out printed as text).
async fn assert_no_stray_null(client: &Client) {
    let text = find(client, "main").await.text().await.expect("text");
    assert!(
        !text.lines().any(|line| line.trim() == "null"),
        "the page shows a stray null:\n{text}"
    );
}

/// Waits (10 s at most) for an element matching `css` whose text contains `needle`.
async fn wait_text(client: &Client, css: &str, needle: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(elements) = client.find_all(Locator::Css(css)).await {
            for element in elements {
                if element.text().await.is_ok_and(|t| t.contains(needle)) {
                    return element;
                }
            }
        }
        if Instant::now() > deadline {
            panic!(
                "no {css} with {needle:?} after 10 s; the page says:\n{}",
                page_text(client).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the first `css` element holding `needle` once it is no longer `previous`
/// (an element the page re-renders may go stale between finding and reading it: tried again).
async fn wait_changed_text(client: &Client, css: &str, needle: &str, previous: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = wait_text(client, css, needle).await.text().await
            && text != previous
        {
            return text;
        }
        if Instant::now() > deadline {
            panic!(
                "{css} still says {previous:?} after 10 s; the page says:\n{}",
                page_text(client).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn find(client: &Client, css: &str) -> Element {
    match client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(e) => panic!("{css}: {e}; the page says:\n{}", page_text(client).await),
    }
}

async fn page_text(client: &Client) -> String {
    match client.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(e) => format!("(no body: {e})"),
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let input = find(client, css).await;
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

async fn open(client: &Client, base: &str, path: &str) {
    client
        .goto(&format!("{base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Clicks the `button` of the first table row whose text starts with `row_start`.
async fn click_in_row(client: &Client, row_start: &str, button: &str) {
    for row in client
        .find_all(Locator::Css("tbody tr"))
        .await
        .expect("rows")
    {
        if row.text().await.expect("text").starts_with(row_start) {
            row.find(Locator::Css(button))
                .await
                .expect("button")
                .click()
                .await
                .expect("click");
            return;
        }
    }
    panic!("no row starting {row_start:?}");
}

async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.expect("click");
}

/// Signs in with an API key: the break-glass way, under the email form.
async fn sign_in(client: &Client, base: &str, key: &str) {
    client.goto(base).await.expect("open the console");
    click(client, "#use-key").await;
    fill(client, "#api-key", key).await;
    click(client, "form.signin button[type=submit]").await;
    wait_text(client, "#total", "a month").await;
}

async fn hash(client: &Client) -> String {
    client
        .current_url()
        .await
        .expect("url")
        .fragment()
        .unwrap_or("")
        .to_owned()
}

/// No JavaScript dialog is open: the XSS payload did not run.
async fn no_alert(client: &Client) {
    assert!(
        client.get_alert_text().await.is_err(),
        "a JavaScript dialog opened"
    );
}

async fn api(setup: &Setup, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", setup.server.base))
        .bearer_auth(&setup.key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    response.json().await.unwrap_or(Value::Null)
}

/// A webhook receiver on a free loopback port that answers every request 200; returns its
/// URL. (The signatures are checked by crates/cli/tests/webhooks.rs; here only the console is
/// under test.)
fn start_receiver() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    url
}

/// The workspace's numbers whose digits contain `number`'s, as the API lists them.
async fn numbers_matching(setup: &Setup, number: &str) -> Value {
    let path = format!(
        "/v1/organization-phone-numbers?q={}",
        number.trim_start_matches('+')
    );
    api(setup, reqwest::Method::GET, &path, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_does_every_task_in_the_console() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let setup = setup();
    let base = setup.server.base.clone();
    let agent = api(
        &setup,
        reqwest::Method::POST,
        "/v1/agents",
        Some(json!({"name": "Support bot"})),
    )
    .await;
    let agent_id = agent["id"].as_str().expect("agent id").to_owned();

    // `/` leads to the sign-in form (a person's email and password; a key below it); the
    // key is never in the address.
    client.goto(&base).await.expect("open");
    find(&client, "#email").await;
    screenshot(&client, "sign-in").await;
    sign_in(&client, &base, &setup.key).await;
    assert!(
        !client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains(&setup.key)
    );
    wait_text(&client, "#total", "24 numbers · $28.95 a month").await;
    wait_text(&client, ".pager", "Page 1 of 2").await;
    screenshot(&client, "numbers").await;

    // Select two numbers and re-route them together: a preview first, then for real.
    let overflow = api(
        &setup,
        reqwest::Method::POST,
        "/v1/agents",
        Some(json!({"name": "Overflow", "destination": "sip:overflow@agents.example.com"})),
    )
    .await;
    let overflow_id = overflow["id"].as_str().expect("agent id").to_owned();
    client.refresh().await.expect("reload with the new agent");
    wait_text(&client, ".pager", "Page 1 of 2").await;
    let picks = client
        .find_all(Locator::Css("input[name=pick]"))
        .await
        .expect("checkboxes");
    let mut picked = Vec::new();
    for pick in picks.iter().take(2) {
        pick.click().await.expect("select");
        picked.push(pick.attr("value").await.expect("attr").expect("id"));
    }
    find(&client, "select[name=reroute_agent]")
        .await
        .select_by_value(&overflow_id)
        .await
        .expect("agent");
    click(&client, "form.reroute button.secondary").await;
    wait_text(&client, "form.reroute .notice", "2 of 2 would change").await;
    for id in &picked {
        let number = api(
            &setup,
            reqwest::Method::GET,
            &format!("/v1/organization-phone-numbers/{id}"),
            None,
        )
        .await;
        assert_eq!(
            number["inbound_agent_id"],
            Value::Null,
            "a preview changes nothing"
        );
    }
    click(&client, "form.reroute button[type=submit]").await;
    wait_text(&client, "#toast", "2 numbers re-routed.").await;
    for id in &picked {
        let number = api(
            &setup,
            reqwest::Method::GET,
            &format!("/v1/organization-phone-numbers/{id}"),
            None,
        )
        .await;
        assert_eq!(number["inbound_agent_id"], json!(overflow_id));
    }

    // Page 2, then a filter; both live in the address and survive a reload.
    click(&client, ".pager a").await;
    wait_text(&client, ".pager", "Page 2 of 2").await;
    assert!(hash(&client).await.contains("page=2"));
    fill(&client, "input[name=q]", "london").await;
    find(&client, "select[name=country_code]")
        .await
        .select_by_value("GB")
        .await
        .expect("country");
    click(&client, "form.filters button[type=submit]").await;
    wait_text(&client, "#total", "1 number · $2.50 a month").await;
    let filtered = hash(&client).await;
    assert!(
        filtered.contains("q=london") && filtered.contains("country_code=GB"),
        "{filtered}"
    );
    client.refresh().await.expect("reload");
    wait_text(&client, "#total", "1 number · $2.50 a month").await;
    wait_text(&client, "td", "020 7183 8750").await;
    // The nickname that is an HTML tag shows as text, and nothing ran.
    wait_text(&client, "td", XSS).await;
    assert!(
        client
            .find_all(Locator::Css("td img"))
            .await
            .expect("query")
            .is_empty()
    );
    no_alert(&client).await;

    // A number's page: route it to the agent with If-Match.
    click(&client, "td a").await;
    wait_text(&client, "h1", "+442071838750").await;
    find(&client, "select[name=inbound_agent_id]")
        .await
        .select_by_value(&agent_id)
        .await
        .expect("agent");
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, ".notice", "Saved.").await;
    wait_text(&client, "dd", "Support bot").await;
    wait_text(&client, ".timeline", "inbound_agent_id").await;
    // The history names the agent, not its id.
    wait_text(&client, ".timeline", "→ Support bot").await;
    // Its provider (twilio) is not one Switchboard manages: the page says what a release
    // does and does not do, before anyone clicks.
    wait_text(&client, ".notice", "does not manage twilio").await;
    no_alert(&client).await;

    // A second session changes the number meanwhile: the console's edit is refused (412),
    // the operator is told and sees the new state.
    let number_id = hash(&client)
        .await
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    api(
        &setup,
        reqwest::Method::PATCH,
        &format!("/v1/organization-phone-numbers/{number_id}"),
        Some(json!({"nickname": "Changed elsewhere"})),
    )
    .await;
    fill(&client, "input[name=label]", "mine").await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, ".notice", "Someone else changed this number").await;
    wait_text(&client, "dd", "Changed elsewhere").await;
    let now = api(
        &setup,
        reqwest::Method::GET,
        &format!("/v1/organization-phone-numbers/{number_id}"),
        None,
    )
    .await;
    assert_eq!(
        now["label"],
        json!("london"),
        "the stale edit was not saved"
    );
    screenshot(&client, "conflict").await;

    // Routing: the number's policy is added as JSON, shown in words, and previewed. Text that
    // is not JSON, and a policy the API refuses, say why and save nothing.
    wait_text(
        &client,
        "#routing",
        "No routing policy: the inbound agent takes every call.",
    )
    .await;
    wait_text(
        &client,
        ".route-preview",
        "no routing policy: the number's inbound agent takes the call",
    )
    .await;
    click(&client, "#routing summary").await;
    let set_policy = |text: String| {
        let client = client.clone();
        async move {
            client
                .execute(
                    "document.querySelector('textarea[name=routing]').value = arguments[0];",
                    vec![json!(text)],
                )
                .await
                .expect("set the policy text");
            click(&client, ".routing-form button[type=submit]").await;
        }
    };
    set_policy("{not json".into()).await;
    wait_text(&client, "#routing .notice.bad", "The policy is not JSON").await;
    set_policy(json!({"time_zone": "Mars/Olympus", "rules": []}).to_string()).await;
    wait_text(
        &client,
        "#routing .notice.bad",
        "routing.time_zone \"Mars/Olympus\" is not an IANA time zone name",
    )
    .await;
    let policy = json!({"time_zone": "Europe/London", "rules": [
        {"name": "everyone to the desk", "targets": [{"destination": "tel:+442071838799"}],
         "fallback": [{"agent_id": agent_id}]}
    ]});
    set_policy(policy.to_string()).await;
    wait_text(&client, ".notice", "Routing saved.").await;
    wait_text(
        &client,
        "#routing ol",
        "everyone to the desk: always → tel:+442071838799, then Support bot",
    )
    .await;
    wait_text(
        &client,
        ".route-preview",
        "rule 1 (everyone to the desk) always holds",
    )
    .await;
    // The agent in the fallback has no destination: the preview says a call would skip it.
    wait_text(
        &client,
        ".route-preview",
        "Support bot → no destination — cannot take calls",
    )
    .await;
    screenshot(&client, "routing").await;
    let saved = api(
        &setup,
        reqwest::Method::GET,
        &format!("/v1/organization-phone-numbers/{number_id}"),
        None,
    )
    .await;
    assert_eq!(
        saved["routing"]["rules"][0]["name"],
        json!("everyone to the desk")
    );

    // Buy: KYC and country rules are explained before the click; a double click buys once.
    open(&client, &base, "/console/#/buy?country=IN&type=local").await;
    wait_text(&client, ".notice", "requires a KYC-verified workspace").await;
    // The search narrowed to an area code and digits the number must contain.
    open(&client, &base, "/console/#/buy?country=US&type=local").await;
    fill(&client, "input[name=area_code]", "415").await;
    fill(&client, "input[name=contains]", "0115").await;
    click(&client, "form.filters button[type=submit]").await;
    let offer = wait_text(&client, "td button", "Buy").await;
    let offered = offer
        .attr("data-number")
        .await
        .expect("attr")
        .expect("number");
    assert_eq!(offered, "+14155550115", "the one number that matches");
    assert_eq!(
        client
            .find_all(Locator::Css("td button[data-number]"))
            .await
            .expect("offers")
            .len(),
        1
    );
    screenshot(&client, "buy").await;
    offer.click().await.expect("buy");
    find(
        &client,
        "dialog[open] button.danger, dialog[open] button:not(.secondary)",
    )
    .await;
    client
        .execute(
            "const b = document.querySelector('dialog[open] .actions button'); b.click(); b.click();",
            vec![],
        )
        .await
        .expect("double click");
    wait_text(&client, "h1", &offered).await;
    screenshot(&client, "number").await;
    let bought = numbers_matching(&setup, &offered).await;
    assert_eq!(bought["total"], json!(1), "{offered} bought once: {bought}");
    let events = api(
        &setup,
        reqwest::Method::GET,
        "/v1/events?type=phone_number.purchased",
        None,
    )
    .await;
    assert_eq!(events["total"], json!(1), "one purchase: {events}");

    // Release it: the dialog names the number and its cost.
    click(&client, "button.danger").await;
    wait_text(&client, "dialog[open]", &offered).await;
    wait_text(&client, "dialog[open]", "a month").await;
    wait_text(&client, "dialog[open]", "gives it back to sandbox").await;
    click(&client, "dialog[open] .actions button.danger").await;
    wait_text(&client, "h1", "Numbers").await;
    let gone = numbers_matching(&setup, &offered).await;
    assert_eq!(gone["total"], json!(0), "released: {gone}");

    // Link a SIP trunk: the form checks what the API checks before sending.
    open(&client, &base, "/console/#/link").await;
    fill(&client, "input[name=phoneNumber]", "+12125550999").await;
    fill(
        &client,
        "input[name=terminationUri]",
        "sip:trunk.example.com",
    )
    .await;
    fill(&client, "input[name=sipTrunkUserName]", "acme").await;
    fill(&client, "input[name=sipTrunkPassword]", "s3cret-pass").await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, ".notice", "without the sip: prefix").await;
    screenshot(&client, "link").await;
    fill(
        &client,
        "input[name=terminationUri]",
        "trunk.example.com:5060",
    )
    .await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, "h1", "+12125550999").await;
    wait_text(&client, "dd", "sip_trunk").await;

    // Agents: create, and the delete dialog names the numbers it detaches.
    open(&client, &base, "/console/#/agents").await;
    wait_text(&client, "td", "none: cannot take calls").await;
    fill(&client, "input[name=name]", "Night shift").await;
    fill(&client, "input[name=destination]", "ws://bot.example.com").await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, ".notice.bad", "destination must use wss://").await;
    fill(
        &client,
        "input[name=destination]",
        "sip:night@agents.example.com",
    )
    .await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, "td", "Night shift").await;
    wait_text(&client, "td", "sip:night@agents.example.com").await;
    screenshot(&client, "agents").await;
    click_in_row(&client, "Support bot", "button.danger").await;
    wait_text(&client, "dialog[open]", "Inbound calls (1)").await;
    wait_text(&client, "dialog[open]", "+442071838750").await;
    click(&client, "dialog[open] .actions button.secondary").await;

    // Calls: one the overflow agent took, one with nowhere to go; the page lists both and
    // shows each one's steps.
    let routed = api(
        &setup,
        reqwest::Method::GET,
        &format!("/v1/organization-phone-numbers/{}", picked[0]),
        None,
    )
    .await;
    let routed_number = routed["phone_number"].as_str().expect("number").to_owned();
    let ring = |sid: &'static str, to: String| {
        let setup = &setup;
        async move {
            twilio(
                setup,
                "/carriers/twilio/voice",
                &[("CallSid", sid), ("From", "+14155550123"), ("To", &to)],
            )
            .await
        }
    };
    assert!(
        ring("CA-console-1", routed_number.clone())
            .await
            .contains("<Sip>sip:overflow@agents.example.com</Sip>")
    );
    twilio(
        &setup,
        "/carriers/twilio/dial-result?attempt=0&timeout=20",
        &[("CallSid", "CA-console-1"), ("DialCallStatus", "completed")],
    )
    .await;
    twilio(
        &setup,
        "/carriers/twilio/status",
        &[
            ("CallSid", "CA-console-1"),
            ("CallStatus", "completed"),
            ("CallDuration", "61"),
        ],
    )
    .await;
    let unrouted = api(
        &setup,
        reqwest::Method::GET,
        "/v1/organization-phone-numbers?limit=100",
        None,
    )
    .await;
    let unrouted = unrouted["items"]
        .as_array()
        .expect("numbers")
        .iter()
        .find(|n| n["inbound_agent_id"].is_null() && n["routing"].is_null())
        .and_then(|n| n["phone_number"].as_str())
        .expect("a number routed nowhere")
        .to_owned();
    assert!(ring("CA-console-2", unrouted).await.contains("<Say>"));
    open(&client, &base, "/console/#/calls").await;
    wait_text(&client, "#calls-total", "2 calls").await;
    wait_text(&client, "td", "61 s").await;
    wait_text(&client, ".badge", "unroutable").await;
    for summary in client
        .find_all(Locator::Css("td details summary"))
        .await
        .expect("steps")
    {
        summary.click().await.expect("open the steps");
    }
    wait_text(
        &client,
        "td details",
        "Overflow → sip:overflow@agents.example.com: completed",
    )
    .await;
    wait_text(&client, "td details", "the number has no inbound agent").await;
    screenshot(&client, "calls").await;
    find(&client, "select[name=outcome]")
        .await
        .select_by_value("unroutable")
        .await
        .expect("outcome");
    click(&client, "form.filters button[type=submit]").await;
    wait_text(&client, "#calls-total", "1 call").await;

    // API keys: a read-only key (secret shown once), and a key created then revoked.
    open(&client, &base, "/console/#/keys").await;
    fill(&client, "input[name=name]", "temporary").await;
    click(&client, "form.card button[type=submit]").await;
    let temporary = wait_text(&client, "#new-secret", ":")
        .await
        .text()
        .await
        .expect("secret");
    fill(&client, "input[name=name]", "read only").await;
    for scope in [
        "phone_numbers:write",
        "agents:read",
        "agents:write",
        "api_keys:manage",
        "webhooks:manage",
    ] {
        click(&client, &format!("input[value='{scope}']")).await;
    }
    click(&client, "form.card button[type=submit]").await;
    // The first key's secret is on the page until the answer for this one replaces it.
    let read_only = wait_changed_text(&client, "#new-secret", ":", &temporary).await;
    assert_no_stray_null(&client).await;
    screenshot(&client, "keys").await;
    click_in_row(&client, "temporary", "button.danger").await;
    click(&client, "dialog[open] .actions button.danger").await;
    wait_text(&client, "#toast", "Key revoked.").await;
    let keys = api(&setup, reqwest::Method::GET, "/v1/api-keys", None).await;
    let names: Vec<&str> = keys
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(
        names.contains(&"read only") && !names.contains(&"temporary"),
        "{names:?}"
    );

    // Webhooks: an endpoint on a local receiver (its secret shown once), a test ping, and a
    // change's delivery on the endpoint's page.
    let receiver = start_receiver();
    open(&client, &base, "/console/#/webhooks").await;
    fill(&client, "input[name=url]", &receiver).await;
    fill(&client, "input[name=description]", "Call router sync").await;
    click(&client, "input[value='phone_number.updated']").await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, "#new-secret", "whsec_").await;
    click_in_row(&client, &receiver, "button.secondary").await;
    wait_text(&client, "#toast", "Ping delivered: answered 200").await;
    let line = numbers_matching(&setup, "+12125550101").await;
    let line_id = line["items"][0]["id"]
        .as_str()
        .expect("number id")
        .to_owned();
    api(
        &setup,
        reqwest::Method::PATCH,
        &format!("/v1/organization-phone-numbers/{line_id}"),
        Some(json!({"nickname": "Webhooked"})),
    )
    .await;
    let endpoints = api(&setup, reqwest::Method::GET, "/v1/webhook-endpoints", None).await;
    let endpoint = endpoints["items"][0]["id"]
        .as_str()
        .expect("endpoint")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let deliveries = api(
            &setup,
            reqwest::Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
            None,
        )
        .await;
        let states: Vec<&Value> = deliveries["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|d| &d["state"])
            .collect();
        if states.len() == 2 && states.iter().all(|s| **s == json!("delivered")) {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {deliveries}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    click(&client, "td a").await;
    wait_text(&client, "tbody tr", "phone_number.updated").await;
    wait_text(&client, "tbody tr", "answered 200").await;
    no_alert(&client).await;
    assert_no_stray_null(&client).await;
    screenshot(&client, "webhooks").await;

    // Reports: charts of cost by country and agent, compliance, recent changes.
    open(&client, &base, "/console/#/reports").await;
    wait_text(&client, "h2", "Monthly cost by country").await;
    find(&client, "svg.chart rect").await;
    wait_text(&client, "h2", "Compliance").await;
    wait_text(&client, ".timeline", "phone_number.released").await;
    no_alert(&client).await;
    screenshot(&client, "reports").await;

    // Narrow screens: the list still works at 390 px.
    client.set_window_size(390, 844).await.expect("resize");
    open(&client, &base, "/console/#/numbers").await;
    wait_text(&client, "#total", "a month").await;
    screenshot(&client, "numbers-390px").await;
    client.set_window_size(1280, 900).await.expect("resize");

    // Sign out: the key is forgotten; the read-only key finds the write actions unavailable.
    click(&client, "header button").await;
    find(&client, "#email").await;
    let stored = client
        .execute("return sessionStorage.length", vec![])
        .await
        .expect("storage");
    assert_eq!(stored, json!(0), "signing out forgets the key");
    sign_in(&client, &base, &read_only).await;
    wait_text(&client, "nav .unavailable", "Buy").await;
    wait_text(&client, "nav .unavailable", "API keys").await;
    wait_text(&client, "nav .unavailable", "Webhooks").await;
    click(&client, "td a").await;
    wait_text(&client, ".notice", "cannot change numbers").await;
    assert!(
        client
            .find_all(Locator::Css("button.danger"))
            .await
            .expect("query")
            .is_empty(),
        "no release button for a read-only key"
    );
    screenshot(&client, "read-only").await;
    click(&client, "header button").await;
    find(&client, "#email").await;

    client.close().await.expect("close");
}

/// `switchboard user create` with the password on standard input.
fn create_person(setup: &Setup, email: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut command = switchboard(&setup.database_url);
    command.args([
        "user",
        "create",
        "--workspace",
        &setup.workspace,
        "--email",
        email,
        "--role",
        role,
        "--password-stdin",
    ]);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn sign_in_as(client: &Client, base: &str, email: &str, password: &str) {
    client.goto(base).await.expect("open the console");
    fill(client, "#email", email).await;
    fill(client, "#password", password).await;
    click(client, "form.signin button[type=submit]").await;
    wait_text(client, "header .who", email).await;
}

/// The session cookie the browser holds (HttpOnly: the page's script cannot read it, the
/// WebDriver can).
async fn session_cookie(client: &Client) -> Option<String> {
    client
        .get_all_cookies()
        .await
        .expect("cookies")
        .into_iter()
        .find(|c| c.name() == "switchboard_session")
        .map(|c| format!("switchboard_session={}", c.value()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_with_their_role_and_an_admin_invites_them() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let setup = setup();
    let base = setup.server.base.clone();
    let password = "admin password, long enough";
    create_person(&setup, "ada@example.com", "admin", password);

    // A wrong password is refused without saying which part was wrong.
    client.goto(&base).await.expect("open");
    fill(&client, "#email", "ada@example.com").await;
    fill(&client, "#password", "not it at all").await;
    click(&client, "form.signin button[type=submit]").await;
    wait_text(&client, ".notice.bad", "Wrong email address or password.").await;

    // The admin signs in, sees every page, and invites an operator.
    sign_in_as(&client, &base, "ada@example.com", password).await;
    wait_text(&client, "header .who", "(admin)").await;
    wait_text(&client, "#total", "24 numbers").await;
    let cookie = session_cookie(&client).await.expect("a session cookie");
    let js_sees = client
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    assert!(
        !js_sees
            .as_str()
            .unwrap_or_default()
            .contains("switchboard_session"),
        "the session cookie is HttpOnly: {js_sees}"
    );
    open(&client, &base, "/console/#/users").await;
    wait_text(&client, "h1", "People").await;
    fill(&client, "input[name=email]", "bea@example.com").await;
    find(&client, "select[name=role] option[value=operator]")
        .await
        .click()
        .await
        .expect("choose operator");
    click(&client, "form.card button[type=submit]").await;
    let link = wait_text(&client, "#new-secret", "/console/#set-password=")
        .await
        .text()
        .await
        .expect("link");
    wait_text(&client, "#people", "bea@example.com").await;
    no_alert(&client).await;
    screenshot(&client, "users").await;

    // The person who made the change is named in the reports' recent changes.
    open(&client, &base, "/console/#/reports").await;
    wait_text(&client, ".timeline", "user.created").await;
    wait_text(&client, ".timeline", "by ada@example.com").await;

    // Signing out ends the session on the server, not only in the browser.
    click(&client, "header button").await;
    find(&client, "#email").await;
    let reply = reqwest::Client::new()
        .get(format!("{base}/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status(), 401, "the old cookie no longer works");

    // The invited operator sets a password with the link, signs in, and finds keys,
    // webhooks and people unavailable.
    client.goto(&link).await.expect("open the link");
    fill(&client, "#new-password", "bea's own password here").await;
    click(&client, "form.signin button[type=submit]").await;
    wait_text(&client, ".notice", "Your password is set").await;
    sign_in_as(&client, &base, "bea@example.com", "bea's own password here").await;
    wait_text(&client, "header .who", "(operator)").await;
    wait_text(&client, "nav .unavailable", "API keys").await;
    wait_text(&client, "nav .unavailable", "Webhooks").await;
    wait_text(&client, "nav .unavailable", "People").await;
    wait_text(&client, "nav a", "Buy").await;
    open(&client, &base, "/console/#/agents").await;
    fill(&client, "input[name=name]", "Night desk").await;
    click(&client, "form.card button[type=submit]").await;
    wait_text(&client, "tbody", "Night desk").await;
    no_alert(&client).await;
    click(&client, "header button").await;
    find(&client, "#email").await;

    client.close().await.expect("close");
}

/// Signs in at the identity provider's own login page (oidc-provider's development pages:
/// any address, any password), then consents.
async fn at_the_provider(client: &Client, email: &str) {
    fill(client, "input[name=login]", email).await;
    fill(
        client,
        "input[name=password]",
        "whatever the provider wants",
    )
    .await;
    click(client, "button[type=submit]").await;
    // The consent page, the first time this browser signs in with that account.
    wait_text(client, "button[type=submit]", "Continue").await;
    click(client, "button[type=submit]").await;
}

/// Forgets every cookie of 127.0.0.1 (the provider's session included: ports share cookies),
/// so the next sign-in shows the provider's login page again.
async fn forget_everyone(client: &Client, base: &str) {
    open(client, base, "/console/").await;
    client.delete_all_cookies().await.expect("delete cookies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_their_identity_provider() {
    let port = switchboard_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(provider) =
        switchboard_testkit::TestIdentityProvider::start(&format!("{base}/auth/oidc/callback"))
    else {
        return;
    };
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let issuer = provider.issuer.clone();
    let setup = setup_with(&format!("127.0.0.1:{port}"), |workspace| {
        [
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            switchboard_testkit::OIDC_CLIENT_ID,
            "--oidc-client-secret",
            switchboard_testkit::OIDC_CLIENT_SECRET,
            "--oidc-allowed-domains",
            "allowed.example",
            "--oidc-workspace",
            workspace,
        ]
        .map(str::to_owned)
        .to_vec()
    });
    // Invited (no password): the provider vouches for the address instead.
    let mut invite = switchboard(&setup.database_url);
    invite.args([
        "user",
        "create",
        "--workspace",
        &setup.workspace,
        "--email",
        "ivy@example.com",
        "--role",
        "operator",
    ]);
    json_output(invite);

    client.goto(&base).await.expect("open");
    click(&client, "#sign-in-provider").await;
    at_the_provider(&client, "ivy@example.com").await;
    wait_text(&client, "header .who", "ivy@example.com (operator)").await;
    wait_text(&client, "#total", "24 numbers").await;
    wait_text(&client, "nav .unavailable", "People").await;
    screenshot(&client, "signed-in-through-provider").await;
    click(&client, "header button").await;
    find(&client, "#email").await;

    // Nobody here has this address and its domain is not allowed: refused, and told why.
    forget_everyone(&client, &base).await;
    click(&client, "#sign-in-provider").await;
    at_the_provider(&client, "stranger@elsewhere.example").await;
    wait_text(
        &client,
        ".notice",
        "No one here signs in as stranger@elsewhere.example; ask an admin to invite you.",
    )
    .await;

    // An allowed domain lets a newcomer in, as a viewer.
    forget_everyone(&client, &base).await;
    click(&client, "#sign-in-provider").await;
    at_the_provider(&client, "nel@allowed.example").await;
    wait_text(&client, "header .who", "nel@allowed.example (viewer)").await;
    wait_text(&client, "nav .unavailable", "Buy").await;
    click(&client, "header button").await;
    find(&client, "#email").await;

    // The provider has not verified this address: refused, allowed domain or not.
    forget_everyone(&client, &base).await;
    click(&client, "#sign-in-provider").await;
    at_the_provider(&client, "unverified@allowed.example").await;
    wait_text(
        &client,
        ".notice",
        "has not verified unverified@allowed.example",
    )
    .await;
    no_alert(&client).await;
    client.close().await.expect("close");

    // A callback is good once, in the browser that started it: a replay of its state (even
    // with its cookie) is refused before the provider is asked, and so is a state that
    // started elsewhere.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let started = http
        .get(format!("{base}/auth/oidc/login"))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status(), 303);
    let to_provider = started.headers()["location"].to_str().expect("location");
    assert!(to_provider.starts_with(&provider.issuer), "{to_provider}");
    for needed in [
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "state=",
    ] {
        assert!(to_provider.contains(needed), "{needed} in {to_provider}");
    }
    let state = url::Url::parse(to_provider)
        .expect("url")
        .query_pairs()
        .find(|(name, _)| name == "state")
        .expect("state")
        .1
        .into_owned();
    let cookie = format!("switchboard_oidc_state={state}");
    let callback = |cookie: String| {
        let (http, base, state) = (http.clone(), base.clone(), state.clone());
        async move {
            let answer = http
                .get(format!("{base}/auth/oidc/callback"))
                .query(&[
                    ("code", "a code the provider never gave"),
                    ("state", &state),
                ])
                .header("cookie", cookie)
                .send()
                .await
                .expect("callback");
            assert_eq!(answer.status(), 303);
            let location = answer.headers()["location"].to_str().expect("location");
            let encoded = location
                .split_once("#sign-in-error=")
                .unwrap_or_else(|| panic!("not a sign-in error: {location}"))
                .1;
            url::form_urlencoded::parse(format!("m={encoded}").as_bytes())
                .next()
                .expect("the message")
                .1
                .into_owned()
        }
    };
    let first = callback(cookie.clone()).await;
    assert!(first.contains("token endpoint answered 400"), "{first}");
    let replayed = callback(cookie).await;
    assert!(
        replayed.contains("used already or has expired"),
        "{replayed}"
    );
    let elsewhere = callback("switchboard_oidc_state=another-browser's".into()).await;
    assert!(
        elsewhere.contains("did not start in this browser"),
        "{elsewhere}"
    );
}
