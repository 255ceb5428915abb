//! The layers around the API router, outermost first: the headers every answer carries; the
//! request metrics and log line; the in-flight limit and the request deadline; the panic guard;
//! authentication and authorization.
//! Each refuses with a `Status`, as kube-apiserver's filters do, and the router only sees
//! requests that passed them all: a new route cannot skip authorization.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use futures::FutureExt;
use tokio::sync::Semaphore;

use super::auth::{self, Auth};
use crate::api::{self, status::ApiError};
use crate::telemetry::metrics::{RequestLabels, RouteLabels, metrics};

/// Bounds of the request path.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests served at once (`--max-requests-inflight`); health checks are not counted.
    pub max_in_flight: usize,
    /// How long a request may take (`--request-timeout`).
    pub request_timeout: Duration,
}

/// How long a client refused for the in-flight limit is told to wait.
const RETRY_AFTER_SECONDS: u32 = 1;

/// The cause a client sees when a handler panicked.
const PANICKED: &str = "the server could not complete the request";

/// Wrap `router` in the layers, with authentication and authorization when `auth` is set.
pub fn stack(router: Router, auth: Option<Arc<Auth>>, limits: &Limits) -> Router {
    let router = match auth {
        Some(auth) => router.layer(middleware::from_fn_with_state(auth, auth::admit)),
        None => router,
    };
    let admission = Arc::new(Admission {
        in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
        request_timeout: limits.request_timeout,
    });
    router
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn_with_state(admission, admit))
        .layer(middleware::from_fn(observe))
        .layer(middleware::map_response(standard_headers))
}

struct Admission {
    in_flight: Arc<Semaphore>,
    request_timeout: Duration,
}

/// The in-flight limit (429 beyond it, health checks exempt) and the request deadline (504).
/// A request past its deadline is dropped where it waits, so nothing it waits on outlives it.
async fn admit(State(admission): State<Arc<Admission>>, request: Request, next: Next) -> Response {
    let pretty = api::request_wants_pretty(&request);
    let _permit = if api::is_health_path(request.uri().path()) {
        None
    } else {
        match admission.in_flight.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let mut response =
                    api::error_response(&ApiError::TooManyRequests(RETRY_AFTER_SECONDS), pretty);
                response.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(RETRY_AFTER_SECONDS),
                );
                return response;
            }
        }
    };
    let path = request.uri().path().to_string();
    match tokio::time::timeout(admission.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, timeout = ?admission.request_timeout, "request deadline exceeded");
            api::error_response(&ApiError::Timeout, pretty)
        }
    }
}

/// Counts the request in flight and, once answered, in the request metrics; writes the request
/// log line (at info, health checks at debug): method, route class, resource and metric as
/// sent, status, latency and the aggregator's `Audit-ID`.
async fn observe(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let audit_id = request
        .headers()
        .get("audit-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let metrics = metrics();
    metrics.requests_in_flight.inc();
    let response = next.run(request).await;
    metrics.requests_in_flight.dec();
    let class = api::class::classify(&path);
    let code = response.status().as_u16();
    let elapsed = started.elapsed();
    let route = RouteLabels {
        group: class.group,
        version: class.version,
        route: class.route,
    };
    metrics
        .request_duration
        .get_or_create(&route)
        .observe(elapsed.as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            group: class.group,
            version: class.version,
            route: class.route,
            code,
        })
        .inc();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let audit_id = audit_id.as_deref().unwrap_or_default();
    if class.route == "health" {
        tracing::debug!(%method, route = %class.route, status = code, latency_ms, "request");
    } else {
        tracing::info!(
            %method,
            group = %class.group,
            version = %class.version,
            route = %class.route,
            resource = %class.resource,
            metric = %class.metric,
            status = code,
            latency_ms,
            audit_id = %audit_id,
            "request"
        );
    }
    response
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// The last resort: a handler that panics answers 500 with a `Status`, and the connection and
/// the process go on.
async fn catch_panic(request: Request, next: Next) -> Response {
    let pretty = api::request_wants_pretty(&request);
    let path = request.uri().path().to_string();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(%path, panic = panic_message(panic.as_ref()), "a request handler panicked");
            api::error_response(&ApiError::Internal(PANICKED.into()), pretty)
        }
    }
}

/// The headers kube-apiserver puts on its answers: no cache may keep them (they depend on who
/// asks), and no client may guess another type than the one declared.
async fn standard_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    if headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
    }
    response
}

#[cfg(test)]
mod tests;
