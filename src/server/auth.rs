//! Delegated authentication and authorization, as every aggregated API server does them.
//!
//! Who is asking: the front proxy's headers (`X-Remote-User` …), trusted only on a connection
//! whose client certificate chains to the request-header CA with the clientAuth usage and, when
//! allowed names are set, carries one of them as its CN; else a client certificate from the
//! client CA (CN user, O groups); else a bearer token, reviewed by the cluster (TokenReview,
//! cached); else anonymous. A presented credential that cannot be verified is a 401, never
//! anonymous. May they: `system:masters` and the health paths always; else a SubjectAccessReview
//! with the attributes the apiserver derives from the path (cached, allowed and denied apart).
//!
//! Unlike Go's TLS stack, rustls verifies client certificates during the handshake; the
//! handshake here asks for a certificate, accepts any, checks the handshake signatures, and the
//! chain is verified per request against whichever CA the authenticator needs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::http::{HeaderMap, Method};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReviewSpec,
};
use moka::future::Cache;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::{self, status::ApiError};
use crate::kube::{AuthenticationConfig, Reviewer, UserInfo};
use crate::telemetry::metrics::{ReviewKindLabels, ReviewLabels, metrics};

/// The client certificate chain of a connection (leaf first), as a request extension.
#[derive(Debug, Clone, Default)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// A TLS client-certificate verifier that asks for a certificate, never requires one, accepts any
/// chain and still checks the handshake signatures; chains are verified per request.
#[derive(Debug)]
pub struct RequestClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl RequestClientCertificate {
    /// A verifier using the algorithms of this crypto provider.
    pub fn new(provider: &rustls::crypto::CryptoProvider) -> Arc<RequestClientCertificate> {
        Arc::new(RequestClientCertificate {
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for RequestClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: Go clients then send their certificate whatever its issuer.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies client chains against one CA bundle, with the clientAuth usage.
struct ChainVerifier(Arc<dyn ClientCertVerifier>);

impl ChainVerifier {
    fn from_pem(pem: &str, what: &str) -> Result<ChainVerifier, String> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("{what}: not a PEM certificate bundle: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("{what}: unusable CA certificate: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("{what}: no certificates found"));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| format!("{what}: {e}"))?;
        Ok(ChainVerifier(verifier))
    }

    fn verifies(&self, chain: &[CertificateDer<'static>]) -> bool {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return false;
        };
        self.0
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_ok()
    }
}

/// CN and O values of a certificate's subject.
fn subject(cert: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, orgs))
}

/// Who to trust, from flags or the cluster's ConfigMap.
struct Trust {
    requestheader: Option<ChainVerifier>,
    client_ca: Option<ChainVerifier>,
    config: AuthenticationConfig,
}

impl Trust {
    fn new(config: AuthenticationConfig) -> Result<Trust, String> {
        let requestheader = config
            .requestheader_ca
            .as_deref()
            .map(|pem| ChainVerifier::from_pem(pem, "requestheader-client-ca-file"))
            .transpose()?;
        let client_ca = config
            .client_ca
            .as_deref()
            .map(|pem| ChainVerifier::from_pem(pem, "client-ca-file"))
            .transpose()?;
        Ok(Trust {
            requestheader,
            client_ca,
            config,
        })
    }
}

/// Settings of [`Auth`].
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Paths allowed without authorization (exact, or a prefix when ending in `*`).
    pub always_allow_paths: Vec<String>,
    /// Groups allowed without a SubjectAccessReview.
    pub always_allow_groups: Vec<String>,
    /// How long token reviews are cached.
    pub token_cache_ttl: Duration,
    /// How long allowed access reviews are cached.
    pub authorized_ttl: Duration,
    /// How long denied access reviews are cached.
    pub unauthorized_ttl: Duration,
}

/// Authentication and authorization of requests.
pub struct Auth {
    trust: ArcSwap<Trust>,
    tokens_reviewer: Reviewer,
    access_reviewer: Reviewer,
    options: AuthOptions,
    /// Token reviews by the SHA-256 of the token: a cache of raw tokens would keep secrets, and
    /// let long tokens grow it.
    tokens: Cache<TokenDigest, Option<UserInfo>>,
    allowed: Cache<String, ()>,
    denied: Cache<String, ()>,
}

/// The SHA-256 of a bearer token.
type TokenDigest = [u8; 32];

fn token_digest(token: &str) -> TokenDigest {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// A TTL cache bounded in size, so that a flood of distinct tokens or paths cannot grow it.
fn bounded_cache<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .time_to_live(ttl)
        .max_capacity(100_000)
        .build()
}

/// The authentication and authorization layer: who is asking (401 when a credential does not
/// verify), and may they (403; 500 when the cluster cannot say).
pub async fn admit(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let pretty = api::request_wants_pretty(&request);
    let peer = request.extensions().get::<PeerCertificates>();
    let user = match auth.authenticate(peer, request.headers()).await {
        Ok(user) => user,
        Err(e) => return api::error_response(&e, pretty),
    };
    if let Err(e) = auth
        .authorize(&user, request.method(), request.uri().path())
        .await
    {
        tracing::debug!(user = %user.name, path = %request.uri().path(), "refused");
        return api::error_response(&e, pretty);
    }
    next.run(request).await
}

fn count_review(kind: &'static str, outcome: &'static str) {
    metrics()
        .reviews
        .get_or_create(&ReviewLabels { kind, outcome })
        .inc();
}

fn count_cache_hit(kind: &'static str) {
    metrics()
        .review_cache_hits
        .get_or_create(&ReviewKindLabels { kind })
        .inc();
}

/// The cause of a 500 when authorization could not be decided.
const AUTHORIZATION_FAILED: &str =
    "the request could not be authorized: the SubjectAccessReview failed";

/// The system:authenticated group every authenticated user has.
const AUTHENTICATED: &str = "system:authenticated";

impl Auth {
    /// Authentication with this trust configuration; TokenReviews and SubjectAccessReviews
    /// through these reviewers (`--authentication-kubeconfig`, `--authorization-kubeconfig`).
    pub fn new(
        config: AuthenticationConfig,
        tokens_reviewer: Reviewer,
        access_reviewer: Reviewer,
        options: AuthOptions,
    ) -> Result<Auth, String> {
        Ok(Auth {
            trust: ArcSwap::from_pointee(Trust::new(config)?),
            tokens_reviewer,
            access_reviewer,
            tokens: bounded_cache(options.token_cache_ttl),
            allowed: bounded_cache(options.authorized_ttl),
            denied: bounded_cache(options.unauthorized_ttl),
            options,
        })
    }

    /// Replace the trust configuration (the cluster's ConfigMap changed).
    pub fn update_trust(&self, config: AuthenticationConfig) -> Result<(), String> {
        if self.trust.load().config == config {
            return Ok(());
        }
        self.trust.store(Arc::new(Trust::new(config)?));
        tracing::info!("client authentication settings updated");
        Ok(())
    }

    /// Who is asking.
    pub async fn authenticate(
        &self,
        peer: Option<&PeerCertificates>,
        headers: &HeaderMap,
    ) -> Result<UserInfo, ApiError> {
        let trust = self.trust.load_full();
        let chain = peer.map(|p| p.0.as_slice()).filter(|c| !c.is_empty());
        let mut failed = false;
        if let (Some(chain), Some(verifier)) = (chain, &trust.requestheader) {
            if verifier.verifies(chain) {
                let allowed = &trust.config.allowed_names;
                let cn = chain
                    .first()
                    .and_then(subject)
                    .map(|(cn, _)| cn)
                    .unwrap_or_default();
                if allowed.is_empty() || allowed.contains(&cn) {
                    if let Some(user) = from_request_headers(&trust.config, headers) {
                        return Ok(with_authenticated(user));
                    }
                } else {
                    tracing::debug!(%cn, "front-proxy certificate CN is not an allowed name");
                    failed = true;
                }
            } else if trust.client_ca.is_none() {
                failed = true;
            }
        }
        if let (Some(chain), Some(verifier)) = (chain, &trust.client_ca) {
            if verifier.verifies(chain)
                && let Some((cn, groups)) = chain.first().and_then(subject)
            {
                return Ok(with_authenticated(UserInfo {
                    name: cn,
                    groups,
                    ..UserInfo::default()
                }));
            }
            failed = true;
        }
        if let Some(token) = bearer_token(headers) {
            return match self.review_token(token).await {
                Some(user) => Ok(with_authenticated(user)),
                None => Err(ApiError::Unauthorized),
            };
        }
        if failed {
            return Err(ApiError::Unauthorized);
        }
        Ok(UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..UserInfo::default()
        })
    }

    async fn review_token(&self, token: &str) -> Option<UserInfo> {
        let key = token_digest(token);
        if let Some(cached) = self.tokens.get(&key).await {
            count_cache_hit("token");
            return cached;
        }
        match self.tokens_reviewer.token_review(token).await {
            Ok(user) => {
                let outcome = if user.is_some() {
                    "authenticated"
                } else {
                    "unauthenticated"
                };
                count_review("token", outcome);
                self.tokens.insert(key, user.clone()).await;
                user
            }
            // As kube-apiserver: a token that cannot be reviewed is not authenticated (401).
            Err(e) => {
                count_review("token", "error");
                tracing::warn!(error = %e, "TokenReview failed");
                None
            }
        }
    }

    /// May `user` do `method` on `path`.
    pub async fn authorize(
        &self,
        user: &UserInfo,
        method: &Method,
        path: &str,
    ) -> Result<(), ApiError> {
        if self.always_allowed_path(path)
            || user
                .groups
                .iter()
                .any(|g| self.options.always_allow_groups.contains(g))
        {
            return Ok(());
        }
        let attributes = Attributes::of(method, path);
        let spec = attributes.review_spec(user);
        let key = serde_json::to_string(&spec).unwrap_or_default();
        if self.allowed.get(&key).await.is_some() {
            count_cache_hit("access");
            return Ok(());
        }
        if self.denied.get(&key).await.is_some() {
            count_cache_hit("access");
        } else {
            // As kube-apiserver: an authorizer that fails is a 500, not a refusal.
            let failed = || ApiError::Internal(AUTHORIZATION_FAILED.into());
            match self.access_reviewer.access_review(spec).await {
                Ok(true) => {
                    count_review("access", "allowed");
                    self.allowed.insert(key, ()).await;
                    return Ok(());
                }
                Ok(false) => {
                    count_review("access", "denied");
                    self.denied.insert(key, ()).await
                }
                Err(e) => {
                    count_review("access", "error");
                    tracing::warn!(error = %e, "SubjectAccessReview failed");
                    return Err(failed());
                }
            }
        }
        Err(attributes.forbidden(&user.name))
    }

    fn always_allowed_path(&self, path: &str) -> bool {
        self.options
            .always_allow_paths
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            })
    }
}

fn with_authenticated(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED) {
        user.groups.push(AUTHENTICATED.into());
    }
    user
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

fn header_values<'a>(headers: &'a HeaderMap, names: &'a [String]) -> impl Iterator<Item = &'a str> {
    names
        .iter()
        .flat_map(move |n| headers.get_all(n.as_str()).iter())
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The user the front proxy names; `None` when no username header is set.
fn from_request_headers(config: &AuthenticationConfig, headers: &HeaderMap) -> Option<UserInfo> {
    let defaults = |list: &[String], default: &str| {
        if list.is_empty() {
            vec![default.to_string()]
        } else {
            list.to_vec()
        }
    };
    let username_headers = defaults(&config.username_headers, "X-Remote-User");
    let group_headers = defaults(&config.group_headers, "X-Remote-Group");
    let extra_prefixes = defaults(&config.extra_prefixes, "X-Remote-Extra-");
    let uid_headers = defaults(&config.uid_headers, "X-Remote-Uid");
    let name = header_values(headers, &username_headers)
        .next()?
        .to_string();
    let groups = header_values(headers, &group_headers)
        .map(str::to_string)
        .collect();
    let uid = header_values(headers, &uid_headers)
        .next()
        .unwrap_or_default()
        .to_string();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (header, value) in headers {
        let lower = header.as_str().to_ascii_lowercase();
        for prefix in &extra_prefixes {
            let prefix = prefix.to_ascii_lowercase();
            if let Some(key) = lower.strip_prefix(&prefix)
                && let Ok(v) = value.to_str()
            {
                let key = percent_encoding::percent_decode_str(key)
                    .decode_utf8_lossy()
                    .into_owned();
                extra.entry(key).or_default().push(v.to_string());
            }
        }
    }
    Some(UserInfo {
        name,
        uid,
        groups,
        extra,
    })
}

/// What the apiserver's RequestInfoFactory derives from a request, for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// `/apis/<group>/<version>/…`
    Resource {
        /// `get` or `list`.
        verb: String,
        /// API group.
        group: String,
        /// API version.
        version: String,
        /// Namespace, empty for cluster-wide.
        namespace: String,
        /// Resource.
        resource: String,
        /// Subresource (the metric of a custom metrics path).
        subresource: String,
        /// Name, empty for lists.
        name: String,
    },
    /// Anything else.
    NonResource {
        /// Lower-cased method.
        verb: String,
        /// The path.
        path: String,
    },
}

impl Attributes {
    /// The attributes of a request.
    pub fn of(method: &Method, path: &str) -> Attributes {
        let segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let non_resource = || Attributes::NonResource {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
        };
        let [apis, group, version, rest @ ..] = segments.as_slice() else {
            return non_resource();
        };
        if apis != "apis" || rest.is_empty() {
            return non_resource();
        }
        let (namespace, rest) = match rest {
            [ns_kw, ns, tail @ ..] if ns_kw == "namespaces" && !tail.is_empty() => {
                (ns.clone(), tail)
            }
            _ => (String::new(), rest),
        };
        let part = |i: usize| rest.get(i).cloned().unwrap_or_default();
        let name = part(1);
        let verb = if method == Method::GET {
            if name.is_empty() { "list" } else { "get" }.to_string()
        } else {
            method.as_str().to_ascii_lowercase()
        };
        Attributes::Resource {
            verb,
            group: group.clone(),
            version: version.clone(),
            namespace,
            resource: part(0),
            subresource: part(2),
            name,
        }
    }

    fn review_spec(&self, user: &UserInfo) -> SubjectAccessReviewSpec {
        let mut spec = SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
            groups: Some(user.groups.clone()),
            extra: Some(user.extra.clone()),
            ..Default::default()
        };
        match self {
            Attributes::Resource {
                verb,
                group,
                version,
                namespace,
                resource,
                subresource,
                name,
            } => {
                let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
                spec.resource_attributes = Some(ResourceAttributes {
                    verb: Some(verb.clone()),
                    group: Some(group.clone()),
                    version: Some(version.clone()),
                    namespace: opt(namespace),
                    resource: Some(resource.clone()),
                    subresource: opt(subresource),
                    name: opt(name),
                    ..Default::default()
                });
            }
            Attributes::NonResource { verb, path } => {
                spec.non_resource_attributes = Some(NonResourceAttributes {
                    verb: Some(verb.clone()),
                    path: Some(path.clone()),
                });
            }
        }
        spec
    }

    /// The apiserver's 403 message for this request.
    fn forbidden(&self, user: &str) -> ApiError {
        match self {
            Attributes::Resource {
                verb,
                group,
                namespace,
                resource,
                subresource,
                name,
                ..
            } => {
                let qualified = if group.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}.{group}")
                };
                let object = if name.is_empty() {
                    qualified
                } else {
                    format!("{qualified} \"{name}\"")
                };
                let what = if subresource.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}/{subresource}")
                };
                let scope = if namespace.is_empty() {
                    " at the cluster scope".to_string()
                } else {
                    format!(" in the namespace \"{namespace}\"")
                };
                ApiError::Forbidden {
                    message: format!(
                        "{object} is forbidden: User \"{user}\" cannot {verb} resource \"{what}\" in API group \"{group}\"{scope}"
                    ),
                    name: name.clone(),
                    group: group.clone(),
                    kind: resource.clone(),
                }
            }
            Attributes::NonResource { verb, path } => ApiError::Forbidden {
                message: format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
                name: String::new(),
                group: String::new(),
                kind: String::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
