//! The layers around the API router, outermost first: the headers every answer carries; the
//! in-flight limit and the request deadline; the panic guard; authentication and authorization.
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
