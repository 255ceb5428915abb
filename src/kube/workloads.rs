//! What `explain` reads to compute an HPA's replica count as the controller does: the
//! HorizontalPodAutoscaler, the `scale` subresource of its target and the pods its selector
//! picks, as full objects read once per explanation (the request path never needs them, so they
//! are not watched).

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};

use super::{Cluster, Error};
use crate::resources::ResourceInfo;

/// How long one of these reads may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

async fn in_time<T>(
    what: &'static str,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(READ_TIMEOUT, call).await {
        Ok(result) => result.map_err(Error::Api),
        Err(_) => Err(Error::Timeout {
            what,
            timeout: READ_TIMEOUT,
        }),
    }
}

impl Cluster {
    /// An `autoscaling/v2` HorizontalPodAutoscaler.
    pub async fn horizontal_pod_autoscaler(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<HorizontalPodAutoscaler, Error> {
        let api: Api<HorizontalPodAutoscaler> =
            Api::namespaced(self.inner.client.clone(), namespace);
        in_time("reading the HorizontalPodAutoscaler", api.get(name)).await
    }

    /// The `scale` subresource of an object (a Deployment, a StatefulSet, a custom resource
    /// with a scale subresource).
    pub async fn scale(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Scale, Error> {
        let ar = ApiResource {
            group: resource.group.clone(),
            version: resource.version.clone(),
            api_version: resource.api_version(),
            kind: resource.kind.clone(),
            plural: resource.plural.clone(),
        };
        let api: Api<DynamicObject> = if resource.namespaced {
            Api::namespaced_with(self.inner.client.clone(), namespace, &ar)
        } else {
            Api::all_with(self.inner.client.clone(), &ar)
        };
        in_time("reading the scale subresource", api.get_scale(name)).await
    }

    /// The pods of a namespace matching a label selector, as the HPA controller's pod lister
    /// sees them (every phase).
    pub async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, Error> {
        let api: Api<Pod> = Api::namespaced(self.inner.client.clone(), namespace);
        let list = in_time(
            "listing pods",
            api.list(&ListParams::default().labels(selector)),
        )
        .await?;
        Ok(list.items)
    }
}
