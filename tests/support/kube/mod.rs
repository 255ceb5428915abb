//! A test double of the Kubernetes API server: an in-process, plain-HTTP server on a free
//! loopback port that speaks kube-apiserver's real JSON wire formats, because no kube-apiserver
//! can run on this machine. It serves legacy discovery (`/api`, `/apis`, ...), GET/LIST/WATCH of
//! objects the test puts in its in-memory store (label selectors evaluated with the doubles'
//! own matcher in `support::label_match`, never the crate's; field selectors;
//! `PartialObjectMetadata` responses; watch replay from any `resourceVersion`), the `scale`
//! subresource, `TokenReview` and `SubjectAccessReview`, and it proxies registered aggregated
//! API groups (`metrics.k8s.io`, ...) to an HTTPS upstream the way kube-aggregator does.
//! kube-rs clients and the real `kubectl` both talk to it.
//!
//! It is a double, not an apiserver: there is no write API over HTTP (tests mutate the store
//! through [`KubeDouble`]), no admission, no RBAC on its own resources, no paging, no
//! protobuf, no Table output, no aggregated (v2) discovery. Dropping the handle stops it.
//!
//! Faults are injected on cue (`faults.rs`): hung, stopped and started again, `410 Gone` on
//! watch resumes, watch streams cut, slow or failing reviews, a resource refused by RBAC.

mod catalog;
mod faults;
mod objects;
mod proxy;
mod reviews;
mod server;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::HeaderMap;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use catalog::{ResourceType, ScalePaths, ScaleSelector};
pub use faults::{GoneAs, Hang, Reviews};
pub use objects::{
    deployment, extension_apiserver_authentication, namespace, node, pod, seldon_model,
};

use faults::Faults;
use store::Store;

/// The bearer token the written kubeconfig carries.
pub const TEST_TOKEN: &str = "test";

/// A running Kubernetes API double; stopped (with its open watches) when dropped.
pub struct KubeDouble {
    shared: Arc<Shared>,
    url: String,
    dir: tempfile::TempDir,
    /// The accept loop; `None` while stopped.
    server: Mutex<Option<JoinHandle<()>>>,
}

/// One request the double received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The `Accept` header (empty if none).
    pub accept: String,
}

impl RecordedRequest {
    /// The decoded value of a query parameter.
    pub fn param(&self, key: &str) -> Option<String> {
        server::parse_query(&self.query)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether this is a `?watch=true` request.
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch").as_deref(), Some("true" | "1"))
    }
}

/// Who a bearer token belongs to (what `TokenReview` answers and what the aggregator proxy
/// sends as `X-Remote-User` / `X-Remote-Group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// An aggregated API group-version served by an upstream (an `APIService` object with
/// `insecureSkipTLSVerify: true`).
#[derive(Debug, Clone)]
pub struct ApiService {
    group: String,
    version: String,
    url: String,
    client_identity: Option<Vec<u8>>,
}

impl ApiService {
    /// `group`/`version` served at `url` (`https://127.0.0.1:PORT`).
    pub fn new(group: &str, version: &str, url: &str) -> Self {
        ApiService {
            group: group.to_string(),
            version: version.to_string(),
            url: url.to_string(),
            client_identity: None,
        }
    }

    /// The client certificate and key (one PEM) the proxy presents upstream, as kube-apiserver
    /// presents its `--proxy-client-cert-file` (the front-proxy client certificate).
    pub fn with_client_identity(mut self, pem: &[u8]) -> Self {
        self.client_identity = Some(pem.to_vec());
        self
    }
}

/// A registered API service with the HTTPS client that reaches it.
struct Registered {
    group: String,
    version: String,
    url: String,
    client: reqwest::Client,
}

/// Decides a `SubjectAccessReview` from its `spec`.
type Authorizer = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// Everything the handle and the HTTP handlers share.
struct Shared {
    catalog: Mutex<Vec<ResourceType>>,
    services: Mutex<Vec<Arc<Registered>>>,
    store: Mutex<Store>,
    /// The latest resourceVersion, so watches wake up on changes.
    changes: tokio::sync::watch::Sender<u64>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Bearer token -> user.
    users: Mutex<BTreeMap<String, UserInfo>>,
    authorizer: Mutex<Authorizer>,
    /// `127.0.0.1:PORT`, for `/api`'s `serverAddressByClientCIDRs` and to bind again after
    /// a stop.
    address: String,
    faults: Faults,
}

/// Locks a mutex, ignoring poisoning (a panicked test must not wedge the others' requests).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The user a request authenticates as: a known bearer token's user, anonymous without
/// credentials, `Err` for an unknown token (401, as kube-apiserver answers).
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<UserInfo, ()> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(UserInfo {
            username: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        });
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(())?;
    lock(&shared.users).get(token.trim()).cloned().ok_or(())
}

fn api_service(shared: &Shared, group: &str, version: &str) -> Option<Arc<Registered>> {
    lock(&shared.services)
        .iter()
        .find(|s| s.group == group && s.version == version)
        .cloned()
}

impl KubeDouble {
    /// Starts the double on a free loopback port with the default catalog, an empty store,
    /// token [`TEST_TOKEN`] for user `test-admin` (group `system:masters`) and an allow-all
    /// authorizer, and writes a kubeconfig for it.
    pub async fn start() -> KubeDouble {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Kubernetes API double");
        let address = listener
            .local_addr()
            .expect("local address of the double's listener")
            .to_string();
        let admin = UserInfo {
            username: "test-admin".into(),
            uid: "00000000-0000-4000-8000-00000000ad01".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        };
        let shared = Arc::new(Shared {
            catalog: Mutex::new(ResourceType::defaults()),
            services: Mutex::new(Vec::new()),
            store: Mutex::new(Store::default()),
            changes: tokio::sync::watch::Sender::new(0),
            requests: Mutex::new(Vec::new()),
            users: Mutex::new(BTreeMap::from([(TEST_TOKEN.to_string(), admin)])),
            authorizer: Mutex::new(Arc::new(|_: &Value| true)),
            address: address.clone(),
            faults: Faults::default(),
        });
        let url = format!("http://{address}");
        let dir = tempfile::tempdir().expect("temporary directory for the kubeconfig");
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig(&url))
            .expect("write the double's kubeconfig");
        let server = tokio::spawn(server::serve(listener, shared.clone()));
        KubeDouble {
            shared,
            url,
            dir,
            server: Mutex::new(Some(server)),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig file (cluster `double`, user with token [`TEST_TOKEN`], namespace
    /// `default`) pointing at the double; it lives as long as the handle.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kube-rs config read from [`KubeDouble::kubeconfig`], the way `--kubeconfig` would.
    /// Note kube 5's `default_retry: true`: 429/503/504 answers are retried up to 15 times
    /// with backoff growing from 5 ms, i.e. for minutes.
    pub async fn config(&self) -> ::kube::Config {
        let kubeconfig = ::kube::config::Kubeconfig::read_from(self.kubeconfig())
            .expect("read the double's kubeconfig");
        ::kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kube-rs config from the double's kubeconfig")
    }

    /// A kube-rs client with [`KubeDouble::config`].
    pub async fn client(&self) -> ::kube::Client {
        ::kube::Client::try_from(self.config().await).expect("kube-rs client for the double")
    }

    /// Runs `/usr/bin/kubectl` with the double's kubeconfig and a private discovery cache.
    pub async fn kubectl(&self, args: &[&str]) -> std::process::Output {
        let cache: &Path = &self.dir.path().join("kubectl-cache");
        tokio::process::Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(cache)
            .args(args)
            .kill_on_drop(true)
            .output()
            .await
            .expect("run /usr/bin/kubectl")
    }

    /// Installs a resource type (a CRD, say); discovery shows it from now on.
    pub fn add_resource(&self, resource: ResourceType) {
        let mut catalog = lock(&self.shared.catalog);
        catalog.retain(|r| {
            !(r.group == resource.group
                && r.version == resource.version
                && r.plural == resource.plural)
        });
        catalog.push(resource);
    }

    /// The catalog entry for objects of `api_version` + `kind`.
    fn resource_for(&self, api_version: &str, kind: &str) -> ResourceType {
        lock(&self.shared.catalog)
            .iter()
            .find(|r| r.api_version() == api_version && r.kind == kind)
            .cloned()
            .unwrap_or_else(|| panic!("the double serves no {kind} in {api_version}"))
    }

    /// Creates or replaces an object (its `apiVersion` and `kind` pick the type) and tells
    /// open watches. Returns the object as stored, with `resourceVersion`, `uid` and
    /// `creationTimestamp`.
    pub fn apply(&self, object: Value) -> Value {
        let api_version = object["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = object["kind"].as_str().unwrap_or("").to_string();
        let resource = self.resource_for(&api_version, &kind);
        let stored = lock(&self.shared.store)
            .put(&resource, object)
            .unwrap_or_else(|e| panic!("cannot store the object: {e}"));
        self.notify();
        stored
    }

    /// Changes a stored object in place (a MODIFIED event) and returns it as stored.
    pub fn modify(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Value {
        let resource = self.resource_for(api_version, kind);
        let stored = {
            let mut store = lock(&self.shared.store);
            let mut object = store
                .get(&resource, namespace.unwrap_or(""), name)
                .cloned()
                .unwrap_or_else(|| panic!("no {kind} {namespace:?}/{name} to modify"));
            change(&mut object);
            store
                .put(&resource, object)
                .unwrap_or_else(|e| panic!("cannot store the object: {e}"))
        };
        self.notify();
        stored
    }

    /// Deletes an object (a DELETED event); returns its last state if it existed.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let resource = self.resource_for(api_version, kind);
        let deleted = lock(&self.shared.store).delete(&resource, namespace.unwrap_or(""), name);
        self.notify();
        deleted
    }

    /// Scales a Deployment as if its rollout finished at once: desired and observed replicas.
    pub fn set_replicas(&self, namespace: &str, deployment: &str, replicas: i64) -> Value {
        self.modify(
            "apps/v1",
            "Deployment",
            Some(namespace),
            deployment,
            |object| {
                object["spec"]["replicas"] = replicas.into();
                for field in [
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ] {
                    object["status"][field] = replicas.into();
                }
            },
        )
    }

    /// Proxies `/apis/<group>/<version>/...` to the service's upstream and lists the group in
    /// `/apis`, as registering an `APIService` does.
    pub fn register_api_service(&self, service: ApiService) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().tls_danger_accept_invalid_certs(true);
        if let Some(pem) = &service.client_identity {
            let identity = reqwest::Identity::from_pem(pem)
                .expect("the API service's client identity is a PEM certificate and key");
            builder = builder.identity(identity);
        }
        let client = builder.build().expect("HTTPS client for the API service");
        let mut services = lock(&self.shared.services);
        services.retain(|s| !(s.group == service.group && s.version == service.version));
        services.push(Arc::new(Registered {
            group: service.group,
            version: service.version,
            url: service.url,
            client,
        }));
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Makes `token` authenticate as `user` (for requests to the double, `TokenReview` and
    /// the identity the aggregator proxy forwards).
    pub fn add_token(&self, token: &str, user: UserInfo) {
        lock(&self.shared.users).insert(token.to_string(), user);
    }

    /// Replaces the allow-all authorizer that answers `SubjectAccessReview`s; it is given the
    /// review's `spec`.
    pub fn set_authorizer(&self, authorizer: impl Fn(&Value) -> bool + Send + Sync + 'static) {
        *lock(&self.shared.authorizer) = Arc::new(authorizer);
    }

    fn notify(&self) {
        let rv = lock(&self.shared.store).resource_version();
        self.shared.changes.send_replace(rv);
    }
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        if let Some(server) = lock(&self.server).take() {
            server.abort();
        }
    }
}

fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: double
  cluster:
    server: {url}
users:
- name: test
  user:
    token: {TEST_TOKEN}
contexts:
- name: double
  context:
    cluster: double
    user: test
    namespace: default
current-context: double
"
    )
}
