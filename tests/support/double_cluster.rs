//! The HPA simulator's view of the cluster read from the Kubernetes API double over HTTP, as the
//! controller reads it: the target's Scale subresource and the pods matching its selector.

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::CrossVersionObjectReference;
use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;

use super::hpa::{ClusterState, guess_resource};
use super::kube::{KubeDouble, TEST_TOKEN};

async fn get<T: DeserializeOwned>(double: &KubeDouble, path: &str) -> Result<T, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .get(format!("{}{path}", double.url()))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {path}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}: {body}"))
}

impl ClusterState for KubeDouble {
    async fn scale(
        &self,
        namespace: &str,
        target: &CrossVersionObjectReference,
    ) -> Result<Scale, String> {
        let api_version = target.api_version.clone().unwrap_or_default();
        let resource = guess_resource(&api_version, &target.kind)?;
        let plural = resource.split('.').next().unwrap_or_default();
        let prefix = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let path = format!(
            "{prefix}/namespaces/{namespace}/{plural}/{}/scale",
            target.name
        );
        get(self, &path).await
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, String> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("labelSelector", selector)
            .finish();
        let list: k8s_openapi::List<Pod> = get(
            self,
            &format!("/api/v1/namespaces/{namespace}/pods?{query}"),
        )
        .await?;
        Ok(list.items)
    }
}
