//! The kube-aggregator stand-in: requests under `/apis/<group>/<version>` of a registered API
//! service go to its upstream over HTTPS (certificate not verified, as with
//! `insecureSkipTLSVerify: true`), re-encoded the way the Go aggregator re-encodes them: the
//! decoded path escaped again by Go's rules (so `*` arrives as `%2A`), the query re-encoded with
//! keys sorted (space as `+`), the caller's credentials replaced by `X-Remote-User` and
//! `X-Remote-Group` headers, and the double's client certificate, if one was given, presented.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::server::parse_query;
use super::{Registered, UserInfo};

/// Headers that describe one hop, never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

pub async fn forward(
    service: &Registered,
    parts: &Parts,
    segments: &[&str],
    raw_query: &str,
    body: Bytes,
    user: &UserInfo,
) -> Response {
    let mut url = service.url.trim_end_matches('/').to_string();
    for segment in segments {
        url.push('/');
        url.push_str(&go_escape(segment, false));
    }
    if parts.uri.path().ends_with('/') {
        url.push('/');
    }
    let mut query = parse_query(raw_query);
    if !query.is_empty() {
        // Go's `url.Values.Encode`: keys sorted, values of a key in their order.
        query.sort_by(|a, b| a.0.cmp(&b.0));
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", go_escape(k, true), go_escape(v, true)))
            .collect();
        url.push('?');
        url.push_str(&encoded.join("&"));
    }

    let mut request = service.client.request(parts.method.clone(), &url);
    for (name, value) in &parts.headers {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower)
            || lower == "host"
            || lower == "authorization"
            || lower.starts_with("x-remote-")
        {
            continue;
        }
        request = request.header(name, value);
    }
    request = request.header("X-Remote-User", &user.username);
    for group in &user.groups {
        request = request.header("X-Remote-Group", group);
    }
    let upstream = match request.body(body).send().await {
        Ok(upstream) => upstream,
        Err(_) => return service_unavailable(),
    };
    let code = upstream.status();
    let headers = upstream.headers().clone();
    let Ok(bytes) = upstream.bytes().await else {
        return service_unavailable();
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// What the aggregator answers when the upstream cannot be reached: plain text, not a Status.
fn service_unavailable() -> Response {
    let mut response = Response::new(Body::from("service unavailable\n"));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Go's `url.PathEscape`-for-paths (`shouldEscape` with `encodePath`) or, with `query`,
/// `url.QueryEscape` (space as `+`).
fn go_escape(text: &str, query: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (!query
                && matches!(
                    byte,
                    b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
                ));
        if keep {
            out.push(byte as char);
        } else if query && byte == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
