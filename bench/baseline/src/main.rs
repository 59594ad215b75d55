//! The benchmark's ceiling: a bare hyper server that does the least a real answer needs —
//! compare the bearer header with a constant, echo `x-request-id`, return a fixed JSON body
//! of the same size as Switchboard's answer. Whatever Switchboard does beyond this (routing,
//! key lookup, database read, serialization, logging) shows up as the gap.
//!
//! Usage: `bench-baseline ADDR TOKEN BODY_FILE`; a TOKEN of `-` answers every request 200,
//! which makes it the fastest possible webhook receiver for `bench/webhooks.py`.
#![forbid(unsafe_code)]

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;

const UNAUTHORIZED: &[u8] =
    br#"{"statusCode":401,"message":"API key is missing or invalid","error":"Unauthorized"}"#;

fn answer(request: &Request<Incoming>, expected: &[u8], body: &Bytes) -> Response<Full<Bytes>> {
    let authorized = expected == b"Bearer -"
        || request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .is_some_and(|value| value.as_bytes() == expected);
    let (status, payload) = if authorized {
        (StatusCode::OK, body.clone())
    } else {
        (StatusCode::UNAUTHORIZED, Bytes::from_static(UNAUTHORIZED))
    };
    let mut response = Response::new(Full::new(payload));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(id) = request.headers().get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, address, token, body_file] = args.as_slice() else {
        return Err("usage: bench-baseline ADDR TOKEN BODY_FILE".into());
    };
    let expected: Arc<[u8]> = format!("Bearer {token}").into_bytes().into();
    let body = Bytes::from(std::fs::read(body_file)?);
    let listener = tokio::net::TcpListener::bind(address.as_str()).await?;
    eprintln!("baseline listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let expected = expected.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = answer(&request, &expected, &body);
                async move { Ok::<_, Infallible>(response) }
            });
            // A client that hangs up mid-request is not the benchmark's concern.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
