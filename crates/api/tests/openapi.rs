//! The OpenAPI document: committed, served, internally sound, true to the router, and a
//! superset of DialNexa's phone-number operations.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use switchboard_api::openapi::document_json;

const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];

fn ours() -> Value {
    serde_json::from_str(document_json()).expect("our document is JSON")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_openapi_json_is_what_the_code_generates() {
    let path = repo_root().join("openapi.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()));
    assert!(
        committed == document_json(),
        "openapi.json is out of date with the code; regenerate it with\n    cargo run -q -- openapi > openapi.json"
    );
}

#[tokio::test]
async fn the_document_is_served_without_a_key() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let reply = app.call("GET", "/v1/openapi.json", None, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.headers["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(reply.body, document_json().as_bytes());
        assert_eq!(reply.json()["openapi"], "3.1.0");
    }
}

/// Every `$ref` in `value` points at a schema that exists.
fn collect_refs(value: &Value, refs: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    refs.insert(inner.as_str().expect("$ref is a string").to_owned());
                } else {
                    collect_refs(inner, refs);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, refs)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_operation_is_named_and_guarded() {
    let doc = ours();
    let mut refs = BTreeSet::new();
    collect_refs(&doc, &mut refs);
    for reference in &refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{reference} does not resolve"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let secured = !operation["security"]
                .as_array()
                .expect("security is explicit")
                .is_empty();
            if secured {
                for status in ["401", "403", "429", "500", "503"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} does not document {status}"
                    );
                }
            }
            let has_success = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                // The identity provider's sign-in is browser navigation: it succeeds by
                // redirecting.
                .any(|s| s.starts_with('2') || (path.starts_with("/auth/oidc/") && s == "303"));
            assert!(has_success, "{method} {path} documents no success");
        }
    }
}

/// The document and the router are one: every documented operation is routed (a request
/// without a key gets the route's own answer, never the unknown-route 404 or a 405), and
/// secured ones ask for the key.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::new(common::Backend::Sqlite).await;
    let doc = ours();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{id}", "phn_000000000000")
            .replace("{session_id}", "ses_000000000000");
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let body = matches!(method, "post" | "patch").then(|| serde_json::json!({}));
            let reply = app
                .call(&method.to_uppercase(), &concrete, None, body)
                .await;
            let secured = !operation["security"]
                .as_array()
                .expect("security")
                .is_empty();
            if secured {
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} without a key"
                );
            } else if path.starts_with("/carriers/") {
                // A carrier's signature is its key: without one, a 403.
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} unsigned"
                );
            } else if path.starts_with("/auth/oidc/") {
                // No identity provider in this app: the route's own 404, not the router's.
                assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
                assert_eq!(
                    reply.json()["message"],
                    serde_json::json!("No identity provider is configured")
                );
            } else if path.starts_with("/auth/") {
                // Signing in: an empty body is a 400, signing out without a session a 204,
                // the methods a 200.
                assert!(
                    [
                        StatusCode::BAD_REQUEST,
                        StatusCode::NO_CONTENT,
                        StatusCode::OK
                    ]
                    .contains(&reply.status),
                    "{method} {path}: {}",
                    reply.status
                );
            } else {
                assert_eq!(reply.status, StatusCode::OK, "{method} {path}");
            }
        }
    }
}

/// Names may not be blank; the document says so with the same rule the server applies.
#[test]
fn blank_names_are_refused_by_the_document_as_by_the_server() {
    let doc = ours();
    for schema in ["AgentRequest", "CreateApiKeyRequest"] {
        assert_eq!(
            doc["components"]["schemas"][schema]["properties"]["name"]["pattern"],
            serde_json::json!(switchboard_api::extract::NON_BLANK_PATTERN),
            "{schema}.name"
        );
    }
    for (schema, field) in [
        ("UpdatePhoneNumberRequest", "nickname"),
        ("UpdatePhoneNumberRequest", "label"),
        ("EndpointRequest", "url"),
        ("EndpointRequest", "description"),
        ("EndpointUpdateRequest", "url"),
        ("EndpointUpdateRequest", "description"),
    ] {
        assert_eq!(
            doc["components"]["schemas"][schema]["properties"][field]["pattern"],
            serde_json::json!(switchboard_api::extract::ONE_LINE_PATTERN),
            "{schema}.{field}"
        );
    }
}

// ---- DialNexa compatibility ----

/// What DialNexa's published OpenAPI document (1.0.0) says of its phone-number operations:
/// the fixture keeps those operations and the schemas they reference, as
/// `scripts/dialnexa_fixture.py` extracted them, so this test runs in any clone.
fn dialnexa() -> Value {
    let text = include_str!("fixtures/dialnexa-phone-numbers.json");
    let doc: Value = serde_json::from_str(text).expect("the DialNexa fixture is JSON");
    assert_eq!(doc["info"]["title"], "DialNexa API");
    assert_eq!(doc["info"]["version"], "1.0.0");
    doc
}

/// The schema behind `$ref`s and single-element `allOf`s.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    if let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(doc, only);
    }
    schema
}

/// The JSON types a schema allows (3.0's `nullable` and 3.1's type arrays alike); empty
/// when it does not say.
fn types(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, schema);
    let mut set = BTreeSet::new();
    match schema.get("type") {
        Some(Value::String(t)) => {
            set.insert(t.clone());
        }
        Some(Value::Array(ts)) => {
            set.extend(ts.iter().filter_map(Value::as_str).map(str::to_owned))
        }
        _ => {}
    }
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        set.insert("null".into());
    }
    for key in ["oneOf", "anyOf"] {
        for alternative in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            set.extend(types(doc, alternative));
        }
    }
    if set.is_empty() && schema.get("properties").is_some() {
        set.insert("object".into());
    }
    set
}

/// `narrow` fits in `wide`: every type it allows, `wide` allows (an integer is a number).
fn fits(narrow: &BTreeSet<String>, wide: &BTreeSet<String>) -> bool {
    wide.is_empty()
        || narrow
            .iter()
            .all(|t| wide.contains(t) || (t == "integer" && wide.contains("number")))
}

#[derive(Clone, Copy)]
enum Direction {
    /// Clients send it: ours must accept all DialNexa allows.
    Request,
    /// Clients read it: ours must only produce what DialNexa promises.
    Response,
}

/// Every property DialNexa documents in `theirs` is in `mine`, with a compatible type,
/// recursively.
fn compare(
    label: &str,
    dn: &Value,
    theirs: &Value,
    sb: &Value,
    mine: &Value,
    direction: Direction,
    problems: &mut Vec<String>,
) {
    let (theirs, mine) = (resolve(dn, theirs), resolve(sb, mine));
    let (their_types, my_types) = (types(dn, theirs), types(sb, mine));
    let compatible = match direction {
        Direction::Request => fits(&their_types, &my_types),
        Direction::Response => fits(&my_types, &their_types),
    };
    if !compatible {
        problems.push(format!(
            "{label}: DialNexa says {their_types:?}, ours says {my_types:?}"
        ));
        return;
    }
    if let (Direction::Request, Some(their_enum), Some(my_enum)) = (
        direction,
        theirs.get("enum").and_then(Value::as_array),
        resolve(sb, mine).get("enum").and_then(Value::as_array),
    ) {
        for value in their_enum {
            if !my_enum.contains(value) {
                problems.push(format!("{label}: ours does not accept {value}"));
            }
        }
    }
    if let Some(their_items) = theirs.get("items") {
        match mine.get("items") {
            Some(my_items) => compare(
                &format!("{label}[]"),
                dn,
                their_items,
                sb,
                my_items,
                direction,
                problems,
            ),
            None => problems.push(format!("{label}: ours is not an array")),
        }
    }
    if let Some(their_properties) = theirs.get("properties").and_then(Value::as_object) {
        for (name, their_property) in their_properties {
            match mine.get("properties").and_then(|p| p.get(name)) {
                Some(my_property) => compare(
                    &format!("{label}.{name}"),
                    dn,
                    their_property,
                    sb,
                    my_property,
                    direction,
                    problems,
                ),
                None => problems.push(format!("{label}.{name} is missing")),
            }
        }
    }
    if let Direction::Request = direction {
        let required = |schema: &Value| -> BTreeSet<String> {
            schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        for extra in required(mine).difference(&required(theirs)) {
            problems.push(format!(
                "{label}.{extra}: ours requires what DialNexa does not"
            ));
        }
    }
}

/// Every key of a DialNexa example object is a property of ours, recursively.
fn compare_example(
    label: &str,
    example: &Value,
    sb: &Value,
    mine: &Value,
    problems: &mut Vec<String>,
) {
    let mine = resolve(sb, mine);
    match example {
        Value::Object(fields) => {
            for (name, value) in fields {
                match mine.get("properties").and_then(|p| p.get(name)) {
                    Some(property) => {
                        compare_example(&format!("{label}.{name}"), value, sb, property, problems)
                    }
                    None => problems.push(format!("{label}.{name} (from an example) is missing")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(my_items) = mine.get("items") {
                for item in items {
                    compare_example(&format!("{label}[]"), item, sb, my_items, problems);
                }
            }
        }
        _ => {}
    }
}

fn json_schema(response_or_body: &Value) -> Option<&Value> {
    response_or_body
        .get("content")?
        .get("application/json")?
        .get("schema")
}

/// Statuses DialNexa documents that we never answer, on purpose (docs/api.md says why).
const STATUSES_NOT_ANSWERED: [(&str, &str); 3] = [
    // A malformed id is the same 404 as an unknown one (SPEC §3): nothing learns which ids
    // are well-formed.
    ("deletePhoneNumber", "400"),
    // The workspace always comes from the key, so it can never be unresolved.
    ("listEnabledTelephonyNetworkGroups", "400"),
    // A SIP trunk is stored here, not registered with a provider: nothing upstream can fail.
    ("linkSipTrunk", "502"),
];

/// Parameters whose type is narrower than DialNexa's, on purpose: paging takes whole
/// numbers (SPEC §5; DialNexa's `number` is TypeScript's type, and its examples are whole).
const NARROWER_PARAMETERS: [(&str, &str); 2] =
    [("listPhoneNumbers", "limit"), ("listPhoneNumbers", "page")];

#[test]
fn every_dialnexa_phone_number_operation_is_here_and_compatible() {
    let (dn, sb) = (dialnexa(), ours());
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for (path, item) in dn["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(theirs) = item.get(method) else {
                continue;
            };
            if theirs["tags"][0] != "Phone Numbers" {
                continue;
            }
            let id = theirs["operationId"].as_str().expect("operationId");
            checked.push(id.to_owned());
            let Some(mine) = sb["paths"].get(path).and_then(|i| i.get(method)) else {
                problems.push(format!("{method} {path} ({id}) is missing"));
                continue;
            };
            if mine["operationId"] != theirs["operationId"] {
                problems.push(format!(
                    "{method} {path}: operationId {} instead of {id}",
                    mine["operationId"]
                ));
            }
            // Parameters: every one of theirs, in the same place, with a compatible type;
            // none required by us that they do not require.
            let params = |op: &Value| -> Vec<Value> {
                op.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            for their_param in params(theirs) {
                let found = params(mine)
                    .into_iter()
                    .find(|p| p["name"] == their_param["name"] && p["in"] == their_param["in"]);
                let name = their_param["name"].as_str().unwrap_or_default();
                if NARROWER_PARAMETERS.contains(&(id, name)) {
                    if found.is_none() {
                        problems.push(format!("{id}: parameter {name} is missing"));
                    }
                    continue;
                }
                match found {
                    Some(my_param) => compare(
                        &format!("{id} parameter {}", their_param["name"]),
                        &dn,
                        &their_param["schema"],
                        &sb,
                        &my_param["schema"],
                        Direction::Request,
                        &mut problems,
                    ),
                    None => problems.push(format!(
                        "{id}: parameter {} is missing",
                        their_param["name"]
                    )),
                }
            }
            for my_param in params(mine) {
                let theirs_has = params(theirs).iter().any(|p| p["name"] == my_param["name"]);
                if my_param["required"] == true && !theirs_has {
                    problems.push(format!(
                        "{id}: ours requires parameter {}",
                        my_param["name"]
                    ));
                }
            }
            // Request body.
            if let Some(their_body) = theirs.get("requestBody").and_then(json_schema) {
                match mine.get("requestBody").and_then(json_schema) {
                    Some(my_body) => compare(
                        &format!("{id} body"),
                        &dn,
                        their_body,
                        &sb,
                        my_body,
                        Direction::Request,
                        &mut problems,
                    ),
                    None => problems.push(format!("{id}: no request body")),
                }
            }
            // Responses: statuses, then the fields of the success bodies and error envelopes.
            let my_success = mine["responses"]
                .as_object()
                .expect("responses")
                .iter()
                .find(|(s, _)| s.starts_with('2'))
                .and_then(|(_, r)| json_schema(r));
            for (status, their_response) in theirs["responses"].as_object().expect("responses") {
                let mine_documents = mine["responses"].get(status).is_some()
                    || (status.starts_with('2') && my_success.is_some());
                let deliberate = STATUSES_NOT_ANSWERED.contains(&(id, status.as_str()));
                if !mine_documents && !deliberate {
                    problems.push(format!("{id}: status {status} is not documented"));
                }
                let my_schema = if status.starts_with('2') {
                    my_success
                } else {
                    mine["responses"].get(status).and_then(json_schema)
                };
                let Some(my_schema) = my_schema else {
                    continue;
                };
                if let Some(their_schema) = json_schema(their_response) {
                    compare(
                        &format!("{id} {status}"),
                        &dn,
                        their_schema,
                        &sb,
                        my_schema,
                        Direction::Response,
                        &mut problems,
                    );
                }
                let examples = their_response["content"]["application/json"]["examples"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, e)| &e["value"]);
                for example in examples {
                    compare_example(
                        &format!("{id} {status}"),
                        example,
                        &sb,
                        my_schema,
                        &mut problems,
                    );
                }
            }
        }
    }
    let expected = [
        "getPhoneNumber",
        "listPhoneNumbers",
        "deletePhoneNumber",
        "searchAvailablePhoneNumbers",
        "purchasePhoneNumber",
        "linkSipTrunk",
        "listPhoneNumberPricing",
        "listPhoneCountryRules",
        "listEnabledTelephonyNetworkGroups",
    ];
    for id in expected {
        assert!(
            checked.iter().any(|c| c == id),
            "DialNexa's document no longer has {id}; this test would check nothing for it"
        );
    }
    assert!(
        problems.is_empty(),
        "incompatible with DialNexa:\n{}",
        problems.join("\n")
    );
}

/// The comparison itself catches a dropped field and a changed type (it would be a test
/// that cannot fail otherwise).
#[test]
fn the_comparison_notices_a_dropped_field_and_a_changed_type() {
    let dn = serde_json::json!({"components": {"schemas": {}}});
    let sb = dn.clone();
    let theirs = serde_json::json!({"type": "object", "properties": {
        "id": {"type": "string"}, "total": {"type": "number"}, "note": {"type": "string", "nullable": true}
    }});
    let mine = serde_json::json!({"type": "object", "properties": {
        "total": {"type": "string"}, "note": {"type": ["string", "null"]}
    }});
    let mut problems = Vec::new();
    compare(
        "x",
        &dn,
        &theirs,
        &sb,
        &mine,
        Direction::Response,
        &mut problems,
    );
    assert_eq!(
        problems,
        vec![
            "x.id is missing".to_owned(),
            "x.total: DialNexa says {\"number\"}, ours says {\"string\"}".to_owned(),
        ]
    );
}
