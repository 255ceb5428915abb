//! A metadata-only watch cache of one resource type, cluster-wide.
//!
//! A background task runs kube-runtime's metadata watcher (LIST then WATCH, re-listing on
//! desync, with backoff) and applies its events to a sorted map; readers never wait on the API
//! server once the first list has arrived. Until then, a watch that fails (the service account
//! may not list the resource, the CRD is gone, the API server is down) makes readers fail at
//! once with the cause, not wait; the watcher keeps retrying and the cache recovers by itself.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;

use super::Labels;
use super::index::{Key, ObjectIndex};
use crate::resources::{GroupResource, ResourceInfo};
use crate::selector::Selector;
use crate::telemetry::metrics::{ResourceLabels, metrics};

/// What the adapter keeps of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Namespace, `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
}

type Objects = RwLock<ObjectIndex>;

/// Where a cache stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CacheState {
    /// The first list has not arrived yet.
    Syncing,
    /// Objects are served (possibly stale while a later watch fails: the watcher retries).
    Ready,
    /// The first list failed: why, in words an operator can act on.
    Failing(String),
}

/// A watch server-side times out after this many seconds and is restarted, so that the
/// client's read timeout (a little longer) only fires on an API server that stopped answering.
pub(super) const WATCH_TIMEOUT_SECONDS: u32 = 55;

pub(super) struct ObjectCache {
    objects: Arc<Objects>,
    state: watch::Receiver<CacheState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ObjectCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn meta_of(obj: &PartialObjectMeta<DynamicObject>) -> Option<(Key, Arc<ObjectMeta>)> {
    let name = obj.metadata.name.clone()?;
    let namespace = obj.metadata.namespace.clone();
    let labels = obj
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let key = (namespace.clone().unwrap_or_default(), name.clone());
    Some((
        key,
        Arc::new(ObjectMeta {
            namespace,
            name,
            labels,
        }),
    ))
}

/// Why a watch of `resource` fails, naming what to fix.
fn failure_cause(resource: &GroupResource, error: &watcher::Error) -> String {
    let api = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => Some((status.code, status.message.clone())),
            _ => None,
        },
        watcher::Error::WatchError(status) => Some((status.code, status.message.clone())),
        watcher::Error::NoResourceVersion => None,
    };
    match api {
        Some((403, message)) => format!(
            "the adapter may not list and watch {resource} ({message}); grant its service account get, list and watch on {resource}"
        ),
        Some((404, _)) => format!("the cluster does not serve {resource} (was its CRD removed?)"),
        Some((code, message)) => format!("listing {resource} failed: {code} {message}"),
        None => format!("listing {resource} failed: {error}"),
    }
}

impl ObjectCache {
    pub(super) fn start(
        client: kube::Client,
        resource: &ResourceInfo,
        field_selector: Option<&str>,
    ) -> Arc<ObjectCache> {
        let ar = ApiResource {
            group: resource.group.clone(),
            version: resource.version.clone(),
            api_version: resource.api_version(),
            kind: resource.kind.clone(),
            plural: resource.plural.clone(),
        };
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &ar);
        let mut config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECONDS);
        if let Some(fs) = field_selector {
            config = config.fields(fs);
        }
        let (state_tx, state) = watch::channel(CacheState::Syncing);
        let gr = resource.group_resource();
        let objects: Arc<Objects> = Arc::default();
        let shared = objects.clone();
        let labels = ResourceLabels {
            resource: gr.to_string(),
        };
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config).default_backoff().boxed();
            let mut buffer = ObjectIndex::default();
            let write = || shared.write().unwrap_or_else(|p| p.into_inner());
            let metrics = metrics();
            let objects_gauge = metrics.cache_objects.get_or_create(&labels).clone();
            let synced_gauge = metrics.cache_synced.get_or_create(&labels).clone();
            synced_gauge.set(0);
            let count = |index: &ObjectIndex| i64::try_from(index.len()).unwrap_or(i64::MAX);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Init) => buffer = ObjectIndex::default(),
                    Ok(Event::InitApply(obj)) => {
                        if let Some((k, v)) = meta_of(&obj) {
                            buffer.insert(k, v);
                        }
                    }
                    Ok(Event::InitDone) => {
                        objects_gauge.set(count(&buffer));
                        synced_gauge.set(1);
                        *write() = std::mem::take(&mut buffer);
                        if *state_tx.borrow() != CacheState::Ready {
                            tracing::info!(resource = %gr, "watching");
                        }
                        state_tx.send_replace(CacheState::Ready);
                    }
                    Ok(Event::Apply(obj)) => {
                        if let Some((k, v)) = meta_of(&obj) {
                            let mut objects = write();
                            objects.insert(k, v);
                            objects_gauge.set(count(&objects));
                        }
                    }
                    Ok(Event::Delete(obj)) => {
                        if let Some((k, _)) = meta_of(&obj) {
                            let mut objects = write();
                            objects.remove(&k);
                            objects_gauge.set(count(&objects));
                        }
                    }
                    Err(e) => {
                        let cause = failure_cause(&gr, &e);
                        tracing::warn!(resource = %gr, error = %e, "{cause}; retrying");
                        state_tx.send_if_modified(|state| match state {
                            CacheState::Ready => false,
                            _ if *state == CacheState::Failing(cause.clone()) => false,
                            _ => {
                                *state = CacheState::Failing(cause);
                                true
                            }
                        });
                    }
                }
            }
        });
        Arc::new(ObjectCache {
            objects,
            state,
            task,
        })
    }

    /// Wait (at most `timeout`) until the first list has arrived; `Err` with the cause when the
    /// watch is failing, at once.
    pub(super) async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let mut state = self.state.clone();
        let settled = tokio::time::timeout(
            timeout,
            state.wait_for(|s| !matches!(s, CacheState::Syncing)),
        )
        .await;
        match settled {
            Ok(Ok(s)) => match &*s {
                CacheState::Failing(cause) => Err(cause.clone()),
                _ => Ok(()),
            },
            Ok(Err(_)) => Err("the watch ended".into()),
            Err(_) => Err(format!("the first list did not arrive within {timeout:?}")),
        }
    }

    pub(super) fn list(
        &self,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Vec<Arc<ObjectMeta>> {
        let objects = self.objects.read().unwrap_or_else(|p| p.into_inner());
        objects.list(namespace, selector)
    }

    pub(super) fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<ObjectMeta>> {
        let objects = self.objects.read().unwrap_or_else(|p| p.into_inner());
        objects.get(&(namespace.unwrap_or_default().to_string(), name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn a_failing_watch_says_what_to_fix() {
        let pods = GroupResource::new("", "pods");
        let forbidden = watcher::Error::InitialListFailed(api_error(
            403,
            "pods is forbidden: User \"system:serviceaccount:monitoring:metrics-adapter\" cannot list resource \"pods\"",
        ));
        let cause = failure_cause(&pods, &forbidden);
        assert!(
            cause.starts_with("the adapter may not list and watch pods (pods is forbidden"),
            "{cause}"
        );
        assert!(
            cause.ends_with("grant its service account get, list and watch on pods"),
            "{cause}"
        );
        let models = GroupResource::new("mlops.seldon.io", "models");
        let gone = watcher::Error::WatchStartFailed(api_error(
            404,
            "the server could not find the requested resource",
        ));
        assert_eq!(
            failure_cause(&models, &gone),
            "the cluster does not serve models.mlops.seldon.io (was its CRD removed?)"
        );
        let other = watcher::Error::InitialListFailed(api_error(500, "etcd is down"));
        assert_eq!(
            failure_cause(&pods, &other),
            "listing pods failed: 500 etcd is down"
        );
    }
}
