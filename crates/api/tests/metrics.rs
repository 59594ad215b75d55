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
