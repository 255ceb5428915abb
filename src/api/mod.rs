//! The HTTP surface: routes, wire formats per API version, discovery documents, health, and the
//! one mapping from errors to Kubernetes `Status` objects.
//!
//! Every answer is JSON (`application/json`), also when the client's Accept lists protobuf first
//! (the controller manager sends `application/vnd.kubernetes.protobuf, */*`): never a 406.
//! Bodies are pretty-printed for `?pretty=true` and for curl and wget, as the apiserver does.

pub mod class;
pub mod discovery;
pub mod routes;
pub mod status;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use discovery::Discovery;
use routes::{Params, Route};
use status::{ApiError, UNABLE_TO_FETCH, UNABLE_TO_LIST};

use crate::provider::{Provider, ProviderError};

/// Encode a value as JSON, pretty (two-space indent) or compact.
pub fn encode<T: Serialize + ?Sized>(value: &T, pretty: bool) -> Vec<u8> {
    let encoded = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    // Our wire types have string keys and no fallible Serialize impls.
    encoded.unwrap_or_default()
}

/// What the handlers share.
pub struct ApiState {
    /// Answers metric requests.
    pub provider: Provider,
    /// Discovery documents.
    pub discovery: Discovery,
    /// What `/readyz` says: ready, or the failed check (`metrics-discovery failed: …`).
    pub ready: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
}

/// The router of the whole API.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn json_response(code: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn text_response(code: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The `Status` answer for an error; the layers around the router refuse requests with it too.
pub fn error_response(error: &ApiError, pretty: bool) -> Response {
    json_response(error.code(), error.body(pretty))
}

/// Whether a request's answer is pretty-printed (`?pretty=true`, curl, wget), for the layers
/// around the router.
pub fn request_wants_pretty<B>(request: &axum::http::Request<B>) -> bool {
    wants_pretty(&Params::parse(request.uri().query()), request.headers())
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> ApiError {
        match e {
            ProviderError::MetricNotFound { metric, resource } => {
                ApiError::metric_not_found(&metric, &resource)
            }
            ProviderError::NoValueFor {
                metric,
                resource,
                name,
            } => ApiError::metric_not_found_for(&metric, &resource, &name),
            ProviderError::ObjectNotFound {
                group,
                kind,
                name,
                message,
            } => ApiError::ObjectNotFound {
                message,
                name,
                group,
                kind,
            },
            ProviderError::ListFailed(None) => ApiError::Internal(UNABLE_TO_LIST.into()),
            ProviderError::ListFailed(Some(cause)) => {
                ApiError::Internal(format!("{UNABLE_TO_LIST}: {cause}").into())
            }
            ProviderError::FetchFailed => ApiError::Internal(UNABLE_TO_FETCH.into()),
            ProviderError::BadRequest(m) => ApiError::BadRequest(m),
        }
    }
}

/// Whether the client gets indented JSON: `?pretty=true`, or curl and wget, as the apiserver.
fn wants_pretty(params: &Params, headers: &HeaderMap) -> bool {
    params.pretty
        || headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("curl/") || ua.starts_with("Wget/"))
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `*`, `gzip;q=0.5`; not `gzip;q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1.0, |q| q.trim().parse::<f64>().unwrap_or(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        })
}

/// The health check a path names (`/healthz`, `/livez`, `/readyz`, also with `/ping`).
fn health_check(path: &str) -> &str {
    path.trim_end_matches('/')
        .trim_end_matches("/ping")
        .trim_end_matches('/')
}

/// Whether a path is a health check, which the in-flight limit never refuses.
pub fn is_health_path(path: &str) -> bool {
    matches!(health_check(path), "/healthz" | "/livez" | "/readyz")
}

fn health(path: &str, ready: impl FnOnce() -> Result<(), String>) -> Option<Response> {
    match health_check(path) {
        "/healthz" | "/livez" => Some(text_response(StatusCode::OK, "ok")),
        "/readyz" if path.ends_with("/ping") => Some(text_response(StatusCode::OK, "ok")),
        "/readyz" => Some(match ready() {
            Ok(()) => text_response(StatusCode::OK, "ok"),
            Err(check) => text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("[-]{check}\nreadyz check failed\n"),
            ),
        }),
        _ => None,
    }
}

/// `/version`, as an apiserver answers it. kubectl's version dispatcher asks it first; the
/// Kubernetes version is the API level whose wire formats we serve.
fn version_info() -> serde_json::Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "gitVersion": concat!("v", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{arch}", std::env::consts::OS),
    })
}

async fn handle(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let (request, _body) = request.into_parts();
    let path = request.uri.path();
    let params = Params::parse(request.uri.query());
    let pretty = wants_pretty(&params, &request.headers);
    let method = &request.method;
    if let Some(response) = health(path, &state.ready) {
        return response;
    }
    if path == "/version" {
        return json_response(StatusCode::OK, encode(&version_info(), true));
    }
    if path == "/metrics" && method == Method::GET {
        let mut response = Response::new(Body::from(crate::telemetry::metrics::metrics().encode()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::telemetry::metrics::CONTENT_TYPE),
        );
        return response;
    }
    if method != Method::GET {
        let e = ApiError::MethodNotAllowed(format!("{method} is not supported"));
        return error_response(&e, pretty);
    }
    match answer(
        &state,
        path,
        &params,
        pretty,
        accepts_gzip(&request.headers),
    )
    .await
    {
        Ok(response) => response,
        Err(e) => error_response(&e, pretty),
    }
}

async fn answer(
    state: &ApiState,
    path: &str,
    params: &Params,
    pretty: bool,
    accepts_gzip: bool,
) -> Result<Response, ApiError> {
    match routes::parse(path, params, state.discovery.apis())? {
        Route::Discovery(doc) => {
            let doc = state.discovery.get(&doc).ok_or(ApiError::NoRoute)?;
            if pretty {
                let value: serde_json::Value =
                    serde_json::from_slice(&doc.json).map_err(|_| ApiError::NoRoute)?;
                return Ok(json_response(StatusCode::OK, encode(&value, true)));
            }
            match doc.gzip {
                Some(gzip) if accepts_gzip => {
                    let mut response = json_response(StatusCode::OK, gzip);
                    let headers = response.headers_mut();
                    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
                    Ok(response)
                }
                _ => Ok(json_response(StatusCode::OK, doc.json)),
            }
        }
        Route::Custom(version, request) => {
            let values = state.provider.custom(&request).await?;
            Ok(json_response(
                StatusCode::OK,
                types::metric_value_list(version, &values, pretty),
            ))
        }
        Route::External(request) => {
            let values = state.provider.external(&request).await?;
            Ok(json_response(
                StatusCode::OK,
                types::external_metric_value_list(&values, pretty),
            ))
        }
        Route::Pods(request, single) => {
            let pods = state.provider.pod_metrics(&request).await?;
            Ok(json_response(
                StatusCode::OK,
                types::pod_metrics(&pods, single, pretty),
            ))
        }
        Route::Nodes(request, single) => {
            let nodes = state.provider.node_metrics(&request).await?;
            Ok(json_response(
                StatusCode::OK,
                types::node_metrics(&nodes, single, pretty),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_used_when_the_client_accepts_it() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
            accepts_gzip(&headers)
        };
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(with("gzip"));
        assert!(with("deflate, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("gzip; q=0.000"));
        assert!(!with("br, identity"));
    }
}
