//! A metadata-only watch cache of one resource type, cluster-wide.
//!
//! A background task runs kube-runtime's metadata watcher (LIST then WATCH, re-listing on
//! desync, with backoff) and applies its events to a sorted map; readers never wait on the API
//! server once the first list has arrived.

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
use crate::resources::ResourceInfo;
use crate::selector::Selector;

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

pub(super) struct ObjectCache {
    objects: Arc<Objects>,
    ready: watch::Receiver<bool>,
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
        let mut config = watcher::Config::default();
        if let Some(fs) = field_selector {
            config = config.fields(fs);
        }
        let (ready_tx, ready) = watch::channel(false);
        let gr = resource.group_resource();
        let objects: Arc<Objects> = Arc::default();
        let shared = objects.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config).default_backoff().boxed();
            let mut buffer = ObjectIndex::default();
            let write = || shared.write().unwrap_or_else(|p| p.into_inner());
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Init) => buffer = ObjectIndex::default(),
                    Ok(Event::InitApply(obj)) => {
                        if let Some((k, v)) = meta_of(&obj) {
                            buffer.insert(k, v);
                        }
                    }
                    Ok(Event::InitDone) => {
                        *write() = std::mem::take(&mut buffer);
                        let _ = ready_tx.send(true);
                    }
                    Ok(Event::Apply(obj)) => {
                        if let Some((k, v)) = meta_of(&obj) {
                            write().insert(k, v);
                        }
                    }
                    Ok(Event::Delete(obj)) => {
                        if let Some((k, _)) = meta_of(&obj) {
                            write().remove(&k);
                        }
                    }
                    Err(e) => tracing::warn!(resource = %gr, error = %e, "watch failed; retrying"),
                }
            }
        });
        Arc::new(ObjectCache {
            objects,
            ready,
            task,
        })
    }

    pub(super) async fn wait_ready(&self, timeout: Duration) -> Result<(), ()> {
        let mut ready = self.ready.clone();
        match tokio::time::timeout(timeout, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(()),
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
