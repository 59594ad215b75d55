//! A test app: the real router over a real SQLite file in a temporary directory.
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
use switchboard_store::{NewPhoneNumber, NewWorkspace, Store, issue_api_key};
use switchboard_store_sqlite::SqliteStore;
use tower::ServiceExt;

pub struct TestApp {
    pub store: Arc<dyn Store>,
    pub state: AppState,
    pub dir: tempfile::TempDir,
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
    pub async fn new() -> Self {
        Self::with_settings(ApiSettings::default()).await
    }

    pub async fn with_key_cache(ttl: Duration) -> Self {
        Self::with_settings(ApiSettings {
            key_cache_ttl: ttl,
            ..ApiSettings::default()
        })
        .await
    }

    pub async fn with_settings(settings: ApiSettings) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("test.db"))
                .await
                .expect("open SQLite"),
        );
        let providers = switchboard_api::default_providers(store.as_ref(), None)
            .await
            .expect("providers");
        let state = AppState::new(store.clone(), providers, SealingKey::generate(), &settings);
        Self { store, state, dir }
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("test.db")
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

    pub async fn key(&self, workspace: &WorkspaceId, scopes: Scopes) -> String {
        issue_api_key(self.store.as_ref(), workspace, "test", scopes)
            .await
            .expect("issue key")
            .token
            .expose()
            .to_owned()
    }

    pub async fn agent(&self, workspace: &WorkspaceId, name: &str) -> AgentId {
        self.store
            .create_agent(workspace, name)
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

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
