//! A test app: the real router over a real database of one backend (see
//! `switchboard_testkit`): a temporary SQLite file, or a fresh PostgreSQL schema.
#![allow(dead_code, reason = "each test file uses a different part")]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use switchboard_api::{ApiSettings, AppState, router};
use switchboard_domain::{
    AgentId, Capabilities, E164, Money, NumberStatus, PhoneNumberId, Scopes, SealingKey,
    WorkspaceId,
};
use switchboard_providers::Provider;
use switchboard_store::{NewPhoneNumber, NewWorkspace, Store, WorkspaceUpdate, issue_api_key};
use switchboard_testkit::TestDatabase;
pub use switchboard_testkit::{Backend, backends};
use tower::ServiceExt;

pub struct TestApp {
    pub store: Arc<dyn Store>,
    pub state: AppState,
    pub db: Arc<TestDatabase>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub struct TestWorkspace {
    pub id: WorkspaceId,
    pub token: String,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_settings(backend, ApiSettings::default()).await
    }

    pub async fn with_key_cache(backend: Backend, ttl: Duration) -> Self {
        Self::with_settings(
            backend,
            ApiSettings {
                key_cache_ttl: ttl,
                ..ApiSettings::default()
            },
        )
        .await
    }

    pub async fn with_settings(backend: Backend, settings: ApiSettings) -> Self {
        Self::build(backend, settings, Vec::new()).await
    }

    /// With extra providers beside the sandbox (tests' own, e.g. one that fails on purpose).
    pub async fn with_providers(backend: Backend, extra: Vec<Arc<dyn Provider>>) -> Self {
        Self::build(backend, ApiSettings::default(), extra).await
    }

    pub async fn build(
        backend: Backend,
        settings: ApiSettings,
        extra: Vec<Arc<dyn Provider>>,
    ) -> Self {
        let db = Arc::new(TestDatabase::create(backend).await);
        Self::serving(db, settings, extra).await
    }

    /// A second replica: its own connections, caches and state, on `other`'s database.
    pub async fn build_on(other: &TestApp, extra: Vec<Arc<dyn Provider>>) -> Self {
        Self::serving(other.db.clone(), ApiSettings::default(), extra).await
    }

    /// A second replica with these settings, on `other`'s database.
    pub async fn replica_with(other: &TestApp, settings: ApiSettings) -> Self {
        Self::serving(other.db.clone(), settings, Vec::new()).await
    }

    async fn serving(
        db: Arc<TestDatabase>,
        settings: ApiSettings,
        extra: Vec<Arc<dyn Provider>>,
    ) -> Self {
        let store = db.open_store().await;
        let mut providers = switchboard_api::default_providers(store.as_ref(), Default::default())
            .await
            .expect("providers");
        for provider in extra {
            providers = providers.with(provider);
        }
        let state = AppState::new(store.clone(), providers, SealingKey::generate(), &settings);
        Self { store, state, db }
    }

    pub async fn workspace(&self, name: &str) -> TestWorkspace {
        let ws = self
            .store
            .create_workspace(NewWorkspace {
                name: name.into(),
                enabled_countries: vec!["IN".into(), "US".into()],
                kyc_verified: false,
            })
            .await
            .expect("create workspace");
        let token = self.key(&ws.id, Scopes::all()).await;
        TestWorkspace { id: ws.id, token }
    }

    /// Enables purchases in `countries`, with or without KYC.
    pub async fn enable(&self, workspace: &WorkspaceId, countries: &[&str], kyc_verified: bool) {
        self.store
            .update_workspace(
                workspace,
                WorkspaceUpdate {
                    enabled_countries: Some(countries.iter().map(|c| (*c).to_owned()).collect()),
                    kyc_verified: Some(kyc_verified),
                },
                &switchboard_store::Actor::cli(),
            )
            .await
            .expect("update workspace");
    }

    pub async fn key(&self, workspace: &WorkspaceId, scopes: Scopes) -> String {
        issue_api_key(self.store.as_ref(), workspace, "test", scopes)
            .await
            .expect("issue key")
            .token
            .expose()
            .to_owned()
    }

    /// An agent without a destination.
    pub async fn agent(&self, workspace: &WorkspaceId, name: &str) -> AgentId {
        self.agent_at(workspace, name, None).await
    }

    /// An agent reached at `destination` (a sip:, wss:// or tel: URI), if any.
    pub async fn agent_at(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        destination: Option<&str>,
    ) -> AgentId {
        let new = switchboard_store::NewAgent {
            name: name.into(),
            destination: destination
                .map(|d| switchboard_domain::Destination::parse(d).expect("destination")),
        };
        self.store
            .create_agent(workspace, new, &switchboard_store::Actor::cli())
            .await
            .expect("create agent")
            .id
    }

    /// Imports one number with the given details; returns its id.
    pub async fn number(
        &self,
        workspace: &WorkspaceId,
        number: &str,
        nickname: Option<&str>,
        agent: Option<AgentId>,
    ) -> PhoneNumberId {
        let number = E164::parse(number).expect("valid number");
        let ids = self
            .store
            .import_phone_numbers(
                workspace,
                vec![NewPhoneNumber {
                    number_type: number.derived_type(),
                    number,
                    monthly_cost: Money::parse("1.15").expect("money"),
                    capabilities: Capabilities::VOICE,
                    label: None,
                    nickname: nickname.map(str::to_owned),
                    inbound_agent_id: agent,
                    status: NumberStatus::Active,
                    provider: "twilio".into(),
                    sip_trunk_enabled: false,
                }],
                &switchboard_store::Actor::cli(),
            )
            .await
            .expect("import number");
        ids.into_iter().next().expect("one id")
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = router(self.state.clone())
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// GET `path` with `Authorization: <authorization>` when given.
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }
}

/// The numbers of a search's answer, in its order.
pub fn offered_numbers(found: &serde_json::Value) -> Vec<String> {
    found["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["number"].as_str().expect("number").to_owned())
        .collect()
}

impl TestApp {
    /// A search of numbers for sale (`path` with its query), which must answer 200;
    /// `context` is shown when it does not (a carrier's log, say).
    pub async fn search_offers(&self, token: &str, path: &str, context: &str) -> serde_json::Value {
        let found = self.call("GET", path, Some(token), None).await;
        assert_eq!(
            found.status,
            StatusCode::OK,
            "{}\n{context}",
            String::from_utf8_lossy(&found.body)
        );
        found.json()
    }

    /// A purchase of the US `number` from `provider`.
    pub async fn buy_number(&self, token: &str, provider: &str, number: &str) -> Reply {
        self.call(
            "POST",
            "/v1/organization-phone-numbers/purchase",
            Some(token),
            Some(serde_json::json!({"phoneNumber": number, "telephonyProviderId": provider, "countryISO": "US"})),
        )
        .await
    }

    /// Any method, with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", bearer(token));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    /// Buys `number` (from the sandbox) for the workspace; panics unless it is a 201.
    pub async fn buy(&self, token: &str, number: &str, country: &str) -> serde_json::Value {
        let reply = self
            .call(
                "POST",
                "/v1/organization-phone-numbers/purchase",
                Some(token),
                Some(serde_json::json!({"phoneNumber": number, "telephonyProviderId": "sandbox", "countryISO": country})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
