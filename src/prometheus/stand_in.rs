//! A Prometheus HTTP API stand-in for unit tests of the client and of what uses it (the registry,
//! the provider): an in-process server on a free loopback port whose answer per API path the test
//! sets (a body, a status code, or a stall until released), counting the requests per path. The
//! end-to-end tests use the real Prometheus; this one lets a unit test inject a failure exactly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::{ClientConfig, PrometheusClient, Verb};

/// How a path answers. A body may hold `{n}`, replaced by the number of requests the path has
/// received (1 for the first).
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with this JSON.
    Body(String),
    /// This status, empty body.
    Status(u16),
    /// Hold the request until [`StandIn::release`], then answer this JSON.
    Stall(String),
}

#[derive(Default)]
struct Shared {
    answers: Mutex<HashMap<String, Answer>>,
    received: Mutex<HashMap<String, usize>>,
    release: tokio::sync::Notify,
}

/// The running stand-in; it stops when the test's runtime ends.
pub struct StandIn {
    /// Its base URL.
    pub url: url::Url,
    shared: Arc<Shared>,
}

/// A vector answer with one sample per `(labels, value)`.
pub fn vector(samples: &[(&[(&str, &str)], &str)]) -> String {
    let result: Vec<serde_json::Value> = samples
        .iter()
        .map(|(labels, value)| {
            let metric: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect();
            serde_json::json!({"metric": metric, "value": [1_700_000_000, value]})
        })
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        .to_string()
}

/// A series answer: one entry per `(name, label names)`, each label valued `x`.
pub fn series(entries: &[(&str, &[&str])]) -> String {
    let data: Vec<serde_json::Value> = entries
        .iter()
        .map(|(name, labels)| {
            let mut entry = serde_json::Map::new();
            entry.insert("__name__".into(), (*name).into());
            for label in *labels {
                entry.insert((*label).to_string(), "x".into());
            }
            serde_json::Value::Object(entry)
        })
        .collect();
    serde_json::json!({"status": "success", "data": data}).to_string()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let n = {
        let mut received = shared.received.lock().unwrap_or_else(|p| p.into_inner());
        let count = received.entry(path.clone()).or_default();
        *count += 1;
        *count
    };
    let answer = shared
        .answers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&path)
        .cloned();
    let body = |text: &str| {
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            text.replace("{n}", &n.to_string()),
        )
            .into_response()
    };
    match answer {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Answer::Body(text)) => body(&text),
        Some(Answer::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(Answer::Stall(text)) => {
            shared.release.notified().await;
            body(&text)
        }
    }
}

impl StandIn {
    /// Start on a free port; every path answers 404 until set.
    pub async fn start() -> StandIn {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let address = listener.local_addr().expect("stand-in address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn {
            url: url::Url::parse(&format!("http://{address}/")).expect("stand-in URL"),
            shared,
        }
    }

    /// How `path` (`/api/v1/query` …) answers from now on.
    pub fn set(&self, path: &str, answer: Answer) {
        self.shared
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), answer);
    }

    /// Let every stalled request answer.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }

    /// Requests `path` has received.
    pub fn received(&self, path: &str) -> usize {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// A client of the stand-in: POST, this timeout, at most `max_concurrency` calls at once.
    pub fn client(&self, timeout: Duration, max_concurrency: usize) -> PrometheusClient {
        PrometheusClient::new(config(self.url.clone(), timeout, max_concurrency))
            .expect("a client of the stand-in")
    }
}

/// A client's configuration for `url`: POST, no credentials or extra headers, this timeout, at
/// most `max_concurrency` calls at once.
pub fn config(url: url::Url, timeout: Duration, max_concurrency: usize) -> ClientConfig {
    ClientConfig {
        url,
        verb: Verb::Post,
        headers: Vec::new(),
        token_file: None,
        ca_file: None,
        client_cert: None,
        kubeconfig: None,
        timeout,
        max_response_bytes: 1 << 20,
        max_concurrency,
    }
}
