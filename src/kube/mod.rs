//! The cluster side: which resource types exist (a resource catalog built from API discovery)
//! and which objects of a type exist (metadata watch caches).
//!
//! Unlike prometheus-adapter, whose RESTMapper is built once at startup, the catalog is
//! refreshed when a request names a resource it does not know (rate-limited), so a CRD installed
//! after start works; and `*` requests are answered from a metadata-only watch cache per resource
//! type in use instead of a full LIST per request.

mod cache;
mod index;
mod reviews;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;

use cache::ObjectCache;
pub use cache::ObjectMeta;
pub use reviews::{AuthenticationConfig, Reviewer, UserInfo};

use crate::resources::{GroupResource, ResourceCatalog, ResourceInfo};
use crate::selector::Selector;

/// Groups served by metrics adapters: never object types, and asking the aggregator about them
/// may loop back to us.
const METRICS_GROUPS: &[&str] = &[
    "custom.metrics.k8s.io",
    "external.metrics.k8s.io",
    "metrics.k8s.io",
];

/// Why talking to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable client configuration.
    #[error("--lister-kubeconfig: {0}")]
    Config(String),
    /// An API call failed.
    #[error("kubernetes API: {0}")]
    Api(#[from] kube::Error),
    /// The watch cache of a resource cannot serve: the cause names what to fix.
    #[error("{0}")]
    NotSynced(String),
    /// The API server did not answer in time.
    #[error("kubernetes API: {what} did not finish within {timeout:?}")]
    Timeout {
        /// The call.
        what: &'static str,
        /// Its deadline.
        timeout: Duration,
    },
}

/// Options for [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Minimum time between two discovery refreshes triggered by unknown resources.
    pub refresh_interval: Duration,
    /// How long a request waits for a new watch cache to fill.
    pub cache_ready_timeout: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            refresh_interval: Duration::from_secs(10),
            cache_ready_timeout: Duration::from_secs(10),
        }
    }
}

/// A watch cache per resource type and field selector.
type CacheKey = (GroupResource, Option<String>);

/// The cluster as the adapter sees it. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    options: ClusterOptions,
    catalog: ArcSwap<ResourceCatalog>,
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    caches: Mutex<HashMap<CacheKey, Arc<ObjectCache>>>,
}

/// Build a client from a kubeconfig file, or the in-cluster service account when `None`.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, Error> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::incluster().map_err(|e| {
            Error::Config(format!(
                "not running in a cluster and no kubeconfig given ({e})"
            ))
        })?,
    };
    let mut config = config;
    // kube's default retries 429/503/504 with backoff growing to minutes: a request path must
    // fail fast instead, and watches retry on their own.
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(5));
    // An API server that accepts connections but stops answering fails reads after this long;
    // watches end server-side before it (cache::WATCH_TIMEOUT_SECONDS). Each call of ours has
    // its own, shorter deadline on top.
    config.read_timeout = Some(Duration::from_secs(
        u64::from(cache::WATCH_TIMEOUT_SECONDS) + 10,
    ));
    kube::Client::try_from(config).map_err(Error::Api)
}

fn infos_from(list: &APIResourceList, group: &str, version: &str) -> Vec<ResourceInfo> {
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| ResourceInfo {
            group: group.to_string(),
            version: version.to_string(),
            plural: r.name.clone(),
            singular: if r.singular_name.is_empty() {
                r.kind.to_ascii_lowercase()
            } else {
                r.singular_name.clone()
            },
            kind: r.kind.clone(),
            namespaced: r.namespaced,
        })
        .collect()
}

/// Read the cluster's resource types: core first, then every group's preferred version in the
/// order the API server lists them (its priority order). A group whose discovery fails is
/// skipped and logged, as one broken aggregated API must not hide the others.
pub async fn discover(client: &kube::Client) -> Result<ResourceCatalog, Error> {
    let mut infos = Vec::new();
    let core = client.list_core_api_versions().await?;
    for version in core.versions.iter().take(1) {
        let list = client.list_core_api_resources(version).await?;
        infos.extend(infos_from(&list, "", version));
    }
    let groups = client.list_api_groups().await?;
    for group in &groups.groups {
        if METRICS_GROUPS.contains(&group.name.as_str()) {
            continue;
        }
        let Some(preferred) = group
            .preferred_version
            .as_ref()
            .or_else(|| group.versions.first())
        else {
            continue;
        };
        match client
            .list_api_group_resources(&preferred.group_version)
            .await
        {
            Ok(list) => infos.extend(infos_from(&list, &group.name, &preferred.version)),
            Err(e) => {
                tracing::warn!(group = %preferred.group_version, error = %e, "skipping API group whose discovery failed")
            }
        }
    }
    Ok(ResourceCatalog::new(infos))
}

/// How long reading the cluster's API discovery may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// [`discover`], within [`DISCOVERY_TIMEOUT`].
async fn discover_in_time(client: &kube::Client) -> Result<ResourceCatalog, Error> {
    tokio::time::timeout(DISCOVERY_TIMEOUT, discover(client))
        .await
        .map_err(|_| Error::Timeout {
            what: "API discovery",
            timeout: DISCOVERY_TIMEOUT,
        })?
}

impl Cluster {
    /// Discover the cluster's resources and start serving lookups.
    pub async fn connect(client: kube::Client, options: ClusterOptions) -> Result<Cluster, Error> {
        let catalog = discover_in_time(&client).await?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                client,
                options,
                catalog: ArcSwap::from_pointee(catalog),
                // The first miss refreshes at once: a CRD installed just before start-up
                // finished should not wait a whole interval.
                last_refresh: tokio::sync::Mutex::new(None),
                caches: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<ResourceCatalog> {
        self.inner.catalog.load_full()
    }

    /// Resolve a resource name; on a miss, refresh discovery (at most once per refresh interval,
    /// concurrent misses sharing one refresh) and try again.
    pub async fn resolve(&self, gr: &GroupResource) -> Option<ResourceInfo> {
        if let Some(info) = self.inner.catalog.load().resolve(gr) {
            return Some(info.clone());
        }
        self.refresh_if_stale().await;
        self.inner.catalog.load().resolve(gr).cloned()
    }

    /// Refresh discovery unless it was refreshed within the refresh interval. Returns whether the
    /// catalog may have changed.
    pub async fn refresh_if_stale(&self) -> bool {
        let mut last = self.inner.last_refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.inner.options.refresh_interval) {
            return false;
        }
        *last = Some(Instant::now());
        match discover_in_time(&self.inner.client).await {
            Ok(catalog) => {
                self.inner.catalog.store(Arc::new(catalog));
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "refreshing API discovery failed");
                false
            }
        }
    }

    fn cache(&self, resource: &ResourceInfo, field_selector: Option<&str>) -> Arc<ObjectCache> {
        let key = (
            resource.group_resource(),
            field_selector.map(str::to_string),
        );
        let mut caches = self.inner.caches.lock().unwrap_or_else(|p| p.into_inner());
        caches
            .entry(key)
            .or_insert_with(|| {
                ObjectCache::start(self.inner.client.clone(), resource, field_selector)
            })
            .clone()
    }

    /// The objects of a resource type matching a selector, in a namespace or everywhere, sorted
    /// by namespace and name. `field_selector` narrows the watch itself (`status.phase=Running`).
    pub async fn list(
        &self,
        resource: &ResourceInfo,
        namespace: Option<&str>,
        selector: &Selector,
        field_selector: Option<&str>,
    ) -> Result<Vec<Arc<ObjectMeta>>, Error> {
        let cache = self.cache(resource, field_selector);
        cache
            .wait_ready(self.inner.options.cache_ready_timeout)
            .await
            .map_err(Error::NotSynced)?;
        Ok(cache.list(namespace, selector))
    }

    /// One object by name, from the same cache as [`Cluster::list`].
    pub async fn get(
        &self,
        resource: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        field_selector: Option<&str>,
    ) -> Result<Option<Arc<ObjectMeta>>, Error> {
        let cache = self.cache(resource, field_selector);
        cache
            .wait_ready(self.inner.options.cache_ready_timeout)
            .await
            .map_err(Error::NotSynced)?;
        Ok(cache.get(namespace, name))
    }
}

/// Labels as a sorted map.
pub type Labels = BTreeMap<String, String>;
