use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::routing::get;
use http::StatusCode;
use tower::ServiceExt;

use super::*;

/// A router whose `/slow` waits until released, `/panic` panics, `/ok` and `/healthz` answer.
fn app(limits: &Limits, release: Arc<tokio::sync::Notify>) -> Router {
    let router = Router::new()
        .route(
            "/slow",
            get(move || {
                let release = release.clone();
                async move {
                    release.notified().await;
                    "done"
                }
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/panic",
            get(|| async {
                if !AtomicBool::new(false).load(Ordering::SeqCst) {
                    panic!("a bug");
                }
                "never"
            }),
        );
    stack(router, None, limits)
}

async fn call(app: &Router, path: &str) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let response = app
        .clone()
        .oneshot(
            http::Request::get(path)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

#[tokio::test]
async fn beyond_the_in_flight_limit_requests_are_told_to_retry_and_health_still_answers() {
    let release = Arc::new(tokio::sync::Notify::new());
    let limits = Limits {
        max_in_flight: 1,
        request_timeout: Duration::from_secs(30),
    };
    let app = app(&limits, release.clone());
    let first = tokio::spawn({
        let app = app.clone();
        async move { call(&app, "/slow").await.0 }
    });
    // Wait until the first request holds the only slot.
    let mut refused = None;
    for _ in 0..200 {
        let (status, headers, body) = call(&app, "/ok").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((headers, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (headers, body) = refused.expect("a second request is refused while the first waits");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["cache-control"], "no-cache, private");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    assert_eq!(call(&app, "/healthz").await.0, StatusCode::OK);
    release.notify_one();
    assert_eq!(first.await.expect("first request"), StatusCode::OK);
    assert_eq!(call(&app, "/ok").await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_request_past_its_deadline_is_answered_504_and_frees_its_slot() {
    let limits = Limits {
        max_in_flight: 1,
        request_timeout: Duration::from_secs(30),
    };
    let app = app(&limits, Arc::new(tokio::sync::Notify::new()));
    let (status, headers, body) = call(&app, "/slow").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(body["reason"], "Timeout");
    assert_eq!(body["code"], 504);
    assert_eq!(call(&app, "/ok").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
    let limits = Limits {
        max_in_flight: 10,
        request_timeout: Duration::from_secs(30),
    };
    let app = app(&limits, Arc::new(tokio::sync::Notify::new()));
    let (status, _, body) = call(&app, "/panic").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body["message"],
        "Internal error occurred: the server could not complete the request"
    );
    assert_eq!(call(&app, "/ok").await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_answer_is_private_and_typed_bodies_are_not_sniffed() {
    let limits = Limits {
        max_in_flight: 10,
        request_timeout: Duration::from_secs(30),
    };
    let app = app(&limits, Arc::new(tokio::sync::Notify::new()));
    let (_, headers, _) = call(&app, "/ok").await;
    assert_eq!(headers["cache-control"], "no-cache, private");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // A 404 of the router without a body type still carries Cache-Control.
    let (status, headers, _) = call(&app, "/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["cache-control"], "no-cache, private");
    assert!(!headers.contains_key("x-content-type-options"));
}
