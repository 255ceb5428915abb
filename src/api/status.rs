//! Errors as Kubernetes `Status` objects: the one mapping from what went wrong to what the
//! client sees. Internal details (PromQL, Prometheus errors) are logged where they happen and
//! never reach a response.

use std::borrow::Cow;

use axum::http::StatusCode;
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 404 with a message (`the server could not find the metric m for pods`).
    NotFound(String),
    /// 404 for a named object, with `details` naming it.
    ObjectNotFound {
        /// The message.
        message: String,
        /// The object name.
        name: String,
        /// Its API group (omitted when empty).
        group: &'static str,
        /// Its kind.
        kind: &'static str,
    },
    /// 404 for a path no route serves, with empty details as the apiserver writes them.
    NoRoute,
    /// 400 with the parser's message.
    BadRequest(String),
    /// 500 `Internal error occurred: <cause>`, with the cause in `details.causes`. Causes say
    /// what failed in words that help an operator (a missing permission) and never carry
    /// internals (PromQL, Prometheus' errors).
    Internal(Cow<'static, str>),
    /// 429: the server is at its limit of requests in flight; `Retry-After` seconds.
    TooManyRequests(u32),
    /// 504: the request did not finish within the request deadline.
    Timeout,
    /// 405 for anything but GET.
    MethodNotAllowed(String),
    /// 401: credentials that could not be verified.
    Unauthorized,
    /// 403, with the object the request was about.
    Forbidden {
        /// The message.
        message: String,
        /// `details.name`
        name: String,
        /// `details.group`
        group: String,
        /// `details.kind`
        kind: String,
    },
}

/// The cause prometheus-adapter reports for every backend failure.
pub const UNABLE_TO_FETCH: &str = "unable to fetch metrics";
/// The cause for a failed object listing.
pub const UNABLE_TO_LIST: &str = "unable to list matching resources";

#[derive(Serialize)]
struct Cause<'a> {
    message: &'a str,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Details<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    group: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    causes: Vec<Cause<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    retry_after_seconds: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl<'a> Details<'a> {
    fn caused_by(cause: &'a str) -> Details<'a> {
        Details {
            causes: vec![Cause { message: cause }],
            ..Details::default()
        }
    }
}

#[derive(Serialize)]
struct Metadata {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Metadata,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details<'a>>,
    code: u16,
}

impl ApiError {
    /// `the server could not find the metric {metric} for {resource}`
    pub fn metric_not_found(metric: &str, resource: &str) -> ApiError {
        ApiError::NotFound(format!(
            "the server could not find the metric {metric} for {resource}"
        ))
    }

    /// `the server could not find the metric {metric} for {resource} {name}`
    pub fn metric_not_found_for(metric: &str, resource: &str, name: &str) -> ApiError {
        ApiError::NotFound(format!(
            "the server could not find the metric {metric} for {resource} {name}"
        ))
    }

    /// The HTTP status code.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::ObjectNotFound { .. } | ApiError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// The `Status` body, JSON in the apiserver's field order.
    pub fn body(&self, pretty: bool) -> Vec<u8> {
        let internal;
        let (message, reason, details): (&str, &str, Option<Details<'_>>) = match self {
            ApiError::NotFound(m) => (m, "NotFound", None),
            ApiError::ObjectNotFound {
                message,
                name,
                group,
                kind,
            } => (
                message,
                "NotFound",
                Some(Details {
                    name,
                    group,
                    kind,
                    ..Details::default()
                }),
            ),
            ApiError::NoRoute => (
                "the server could not find the requested resource",
                "NotFound",
                Some(Details::default()),
            ),
            ApiError::BadRequest(m) => (m, "BadRequest", None),
            ApiError::Internal(cause) => {
                internal = format!("Internal error occurred: {cause}");
                (&internal, "InternalError", Some(Details::caused_by(cause)))
            }
            ApiError::TooManyRequests(seconds) => (
                "Too many requests, please try again later.",
                "TooManyRequests",
                Some(Details {
                    retry_after_seconds: *seconds,
                    ..Details::default()
                }),
            ),
            ApiError::Timeout => (
                "Timeout: request did not complete within the allotted timeout",
                "Timeout",
                Some(Details::default()),
            ),
            ApiError::MethodNotAllowed(m) => (m, "MethodNotAllowed", None),
            ApiError::Unauthorized => ("Unauthorized", "Unauthorized", None),
            ApiError::Forbidden {
                message,
                name,
                group,
                kind,
            } => (
                message,
                "Forbidden",
                Some(Details {
                    name,
                    group,
                    kind,
                    ..Details::default()
                }),
            ),
        };
        let status = Status {
            kind: "Status",
            api_version: "v1",
            metadata: Metadata {},
            status: "Failure",
            message,
            reason,
            details,
            code: self.code().as_u16(),
        };
        super::encode(&status, pretty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(e: ApiError) -> String {
        String::from_utf8(e.body(false)).unwrap()
    }

    #[test]
    fn bodies_as_the_apiserver_writes_them() {
        assert_eq!(
            json(ApiError::metric_not_found("nonexistent_metric", "pods")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the metric nonexistent_metric for pods","reason":"NotFound","code":404}"#
        );
        assert_eq!(
            json(ApiError::Internal(UNABLE_TO_FETCH.into())),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: unable to fetch metrics","reason":"InternalError","details":{"causes":[{"message":"unable to fetch metrics"}]},"code":500}"#
        );
        assert_eq!(
            json(ApiError::NoRoute),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#
        );
        assert_eq!(
            json(ApiError::Unauthorized),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
        assert_eq!(
            json(ApiError::ObjectNotFound {
                message: "podmetrics.metrics.k8s.io \"default/p9\" not found".into(),
                name: "default/p9".into(),
                group: "metrics.k8s.io",
                kind: "podmetrics",
            }),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"podmetrics.metrics.k8s.io \"default/p9\" not found","reason":"NotFound","details":{"name":"default/p9","group":"metrics.k8s.io","kind":"podmetrics"},"code":404}"#
        );
        assert_eq!(
            json(ApiError::TooManyRequests(1)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}"#
        );
        assert_eq!(
            json(ApiError::Timeout),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: request did not complete within the allotted timeout","reason":"Timeout","details":{},"code":504}"#
        );
    }
}
