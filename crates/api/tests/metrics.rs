//! `GET /metrics` after a scenario: the counters it promises have moved.

mod common;

use axum::http::StatusCode;
use common::TestApp;

/// The sum of every sample of `name` whose labels contain all of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn counters_move_with_traffic() {
    for backend in common::backends() {
        let app = TestApp::with_settings(
            backend,
            switchboard_api::ApiSettings {
                rate_limit_per_minute: 5,
                ..switchboard_api::ApiSettings::default()
            },
        )
        .await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let before =
            String::from_utf8(app.call("GET", "/metrics", None, None).await.body).expect("UTF-8");
        let route = r#"route="/v1/organization-phone-numbers/{id}""#;
        let gets_before = sample(&before, "http_requests_total", &[route, r#"status="404""#]);
        let limited_before = sample(&before, "rate_limited_requests_total", &[]);
        let searches_before = sample(
            &before,
            "provider_call_duration_seconds_count",
            &[r#"operation="search""#],
        );

        app.call(
            "GET",
            "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa",
            Some(&ws.token),
            None,
        )
        .await;
        app.call(
            "GET",
            "/v1/organization-phone-numbers/plivo-numbers?country_iso=US",
            Some(&ws.token),
            None,
        )
        .await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                app.call(
                    "GET",
                    "/v1/organization-phone-numbers",
                    Some(&ws.token),
                    None,
                )
                .await
                .status,
            );
        }
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );

        let scrape = app.call("GET", "/metrics", None, None).await;
        assert_eq!(scrape.status, StatusCode::OK);
        assert!(
            scrape
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("text/plain"))
        );
        let after = String::from_utf8(scrape.body).expect("UTF-8");
        assert!(
            sample(
                &after,
                "http_requests_total",
                &[route, r#"status="404""#, r#"method="GET""#]
            ) >= gets_before + 1.0
        );
        assert!(sample(&after, "http_request_duration_seconds_count", &[route]) >= 1.0);
        assert!(
            after.contains("http_request_duration_seconds_bucket"),
            "latency is a histogram"
        );
        assert!(sample(&after, "rate_limited_requests_total", &[]) >= limited_before + 1.0);
        assert!(
            sample(
                &after,
                "provider_call_duration_seconds_count",
                &[r#"provider="sandbox""#, r#"operation="search""#]
            ) >= searches_before + 1.0
        );
        assert!(
            after.contains("db_pool_connections_max"),
            "{backend:?}: pool usage is reported"
        );
        assert!(after.contains("http_requests_in_flight"));
        // No ids leak into the labels: routes are templates.
        assert!(!after.contains("phn_aaaaaaaaaaaa"));
    }
}

/// Label values a client can choose come from a closed set: requests with made-up methods
/// and paths fold into `method="other"` and `route="unmatched"`, so no client can make the
/// scrape (and the server's memory) grow without bound. (Other tests share the process's
/// recorder, so the test looks at the label values, not at the scrape's size.)
#[tokio::test]
async fn made_up_methods_and_paths_do_not_become_labels() {
    use rand::Rng;
    let app = TestApp::new(common::Backend::Sqlite).await;
    let mut rng = rand::rng();
    let mut random_token = |len: usize| -> String {
        (0..len)
            .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
            .collect()
    };
    let mut sent = Vec::new();
    for _ in 0..200 {
        let (method, segment) = (random_token(200), random_token(300));
        let reply = app
            .call(&method, &format!("/v1/{segment}"), None, None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let reply = app.call(&method, "/v1/agents", None, None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        sent.push(method);
        sent.push(segment);
    }
    let scrape =
        String::from_utf8(app.call("GET", "/metrics", None, None).await.body).expect("UTF-8");
    for value in &sent {
        assert!(
            !scrape.contains(value.as_str()),
            "a client's {value} is a label"
        );
    }
    let label_values = |label: &str| -> std::collections::BTreeSet<String> {
        let prefix = format!("{label}=\"");
        scrape
            .lines()
            .filter(|line| line.starts_with("http_request"))
            .filter_map(|line| {
                let rest = &line[line.find(&prefix)? + prefix.len()..];
                Some(rest[..rest.find('"')?].to_owned())
            })
            .collect()
    };
    let methods = label_values("method");
    let allowed = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "other",
    ];
    assert!(methods.contains("other"), "{methods:?}");
    assert!(
        methods.iter().all(|m| allowed.contains(&m.as_str())),
        "{methods:?}"
    );
    let routes = label_values("route");
    assert!(routes.contains("unmatched"), "{routes:?}");
    assert!(
        routes.iter().all(|r| r == "unmatched"
            || r == "/metrics"
            || r.starts_with("/v1/")
            || r.starts_with("/healthz")
            || r.starts_with("/readyz")),
        "{routes:?}"
    );
}
