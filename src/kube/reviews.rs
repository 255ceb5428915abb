//! Delegated authentication and authorization calls: TokenReview, SubjectAccessReview, and the
//! `kube-system/extension-apiserver-authentication` ConfigMap that says whom to trust.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use std::future::Future;
use std::time::Duration;

use super::Error;

/// How long a TokenReview, a SubjectAccessReview or the read of the trust ConfigMap may take,
/// as the apiserver library's webhook clients allow.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

async fn in_time<T>(
    what: &'static str,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(REVIEW_TIMEOUT, call).await {
        Ok(result) => result.map_err(Error::Api),
        Err(_) => Err(Error::Timeout {
            what,
            timeout: REVIEW_TIMEOUT,
        }),
    }
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID, possibly empty.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The trust settings published by kube-apiserver for extension API servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthenticationConfig {
    /// `client-ca-file`: PEM bundle for client certificates.
    pub client_ca: Option<String>,
    /// `requestheader-client-ca-file`: PEM bundle of the front proxy's CA.
    pub requestheader_ca: Option<String>,
    /// `requestheader-allowed-names`
    pub allowed_names: Vec<String>,
    /// `requestheader-username-headers`
    pub username_headers: Vec<String>,
    /// `requestheader-group-headers`
    pub group_headers: Vec<String>,
    /// `requestheader-extra-headers-prefix`
    pub extra_prefixes: Vec<String>,
    /// `requestheader-uid-headers` (newer clusters)
    pub uid_headers: Vec<String>,
}

/// A JSON list in a ConfigMap value (`["X-Remote-User"]`); empty for an empty string.
fn json_list(data: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>, Error> {
    match data.get(key).map(|v| v.trim()) {
        None | Some("") => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::Config(format!(
                "extension-apiserver-authentication: {key} is not a JSON list: {e}"
            ))
        }),
    }
}

/// Calls the cluster's authentication and authorization APIs.
#[derive(Clone)]
pub struct Reviewer {
    client: kube::Client,
}

impl Reviewer {
    /// A reviewer using this client.
    pub fn new(client: kube::Client) -> Reviewer {
        Reviewer { client }
    }

    /// The user a bearer token belongs to, or `None` when the cluster does not authenticate it.
    pub async fn token_review(&self, token: &str) -> Result<Option<UserInfo>, Error> {
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = in_time("TokenReview", api.create(&PostParams::default(), &review)).await?;
        let Some(status) = answer.status else {
            return Ok(None);
        };
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let user = status.user.unwrap_or_default();
        Ok(Some(UserInfo {
            name: user.username.unwrap_or_default(),
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default(),
        }))
    }

    /// Whether the cluster allows the request described by `spec`.
    pub async fn access_review(&self, spec: SubjectAccessReviewSpec) -> Result<bool, Error> {
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let review = SubjectAccessReview {
            spec,
            ..Default::default()
        };
        let answer = in_time(
            "SubjectAccessReview",
            api.create(&PostParams::default(), &review),
        )
        .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// The ConfigMap kube-apiserver writes for extension API servers; `None` when it does not
    /// exist (as in clusters without a front proxy), an error when it cannot be read.
    pub async fn authentication_config(&self) -> Result<Option<AuthenticationConfig>, Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), "kube-system");
        let read = api.get_opt("extension-apiserver-authentication");
        let Some(map) = in_time("reading extension-apiserver-authentication", read).await? else {
            return Ok(None);
        };
        let data = map.data.unwrap_or_default();
        let text = |key: &str| data.get(key).filter(|v| !v.trim().is_empty()).cloned();
        Ok(Some(AuthenticationConfig {
            client_ca: text("client-ca-file"),
            requestheader_ca: text("requestheader-client-ca-file"),
            allowed_names: json_list(&data, "requestheader-allowed-names")?,
            username_headers: json_list(&data, "requestheader-username-headers")?,
            group_headers: json_list(&data, "requestheader-group-headers")?,
            extra_prefixes: json_list(&data, "requestheader-extra-headers-prefix")?,
            uid_headers: json_list(&data, "requestheader-uid-headers")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_from_config_map_values() {
        let data: BTreeMap<String, String> = [
            ("a".to_string(), r#"["X-Remote-User"]"#.to_string()),
            ("b".to_string(), String::new()),
            ("c".to_string(), "not json".to_string()),
        ]
        .into();
        assert_eq!(json_list(&data, "a").unwrap(), ["X-Remote-User"]);
        assert!(json_list(&data, "b").unwrap().is_empty());
        assert!(json_list(&data, "missing").unwrap().is_empty());
        assert!(json_list(&data, "c").is_err());
    }
}
