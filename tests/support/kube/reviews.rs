//! Delegated authentication and authorization as kube-apiserver offers them to an aggregated
//! API server: `TokenReview` answered from the double's token table, `SubjectAccessReview`
//! answered by the test's authorizer (allow-all until a test sets one; a refusal looks
//! like RBAC's: `allowed: false` without `denied`). Both are `create`
//! calls, so the answer is `201 Created` with the request's `spec` echoed.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::server::{json_response, status};
use super::{Shared, lock};

pub fn token_review(shared: &Shared, body: &[u8]) -> Response {
    let Ok(review) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    let Some(token) = review["spec"]["token"].as_str() else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "spec.token: Required value",
        );
    };
    let user = lock(&shared.users).get(token).cloned();
    let mut status_field = match user {
        Some(user) => json!({
            "authenticated": true,
            "user": {"username": user.username, "uid": user.uid, "groups": user.groups},
        }),
        None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
    };
    if let Some(audiences) = review["spec"]["audiences"].as_array() {
        status_field["audiences"] = json!(audiences);
    }
    json_response(
        StatusCode::CREATED,
        &json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": review["spec"],
            "status": status_field,
        }),
    )
}

pub fn subject_access_review(shared: &Shared, body: &[u8]) -> Response {
    let Ok(review) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    let spec = &review["spec"];
    if spec["resourceAttributes"].is_null() == spec["nonResourceAttributes"].is_null() {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "spec: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        );
    }
    let authorizer = lock(&shared.authorizer).clone();
    let allowed = authorizer(spec);
    let status_field = if allowed {
        json!({"allowed": true, "reason": "allowed by the test's authorizer"})
    } else {
        // As RBAC answers: no opinion, so not allowed but not `denied` either.
        json!({"allowed": false, "reason": "no rule of the test's authorizer allows it"})
    };
    json_response(
        StatusCode::CREATED,
        &json!({
            "kind": "SubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": status_field,
        }),
    )
}
