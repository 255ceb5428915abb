//! Answering one request: which rule serves it (registry), which objects it covers (cluster),
//! the PromQL (rules), one query (Prometheus), and the samples turned into values per object.

mod custom;
mod external;
mod resource;

use std::sync::Arc;

pub use custom::CustomRequest;
pub use external::ExternalRequest;
pub use resource::{
    ContainerUsage, NODE_FIELDS, NodeMetrics, NodeMetricsRequest, POD_FIELDS, PodMetrics,
    PodMetricsRequest,
};
use serde::Serialize;

use crate::kube::Cluster;
use crate::prometheus::{PrometheusClient, QueryResult, Sample, SampleLabels};
use crate::quantity::{self, Format};
use crate::registry::{Registry, SharedRegistry};
use crate::selector::LabelSelector;

/// `core/v1.ObjectReference` as the custom metrics API fills it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// Kind (`Pod`).
    pub kind: String,
    /// Namespace; absent for cluster-scoped objects and Namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// `v1`, `apps/v1` … (prometheus-adapter writes `/v1` for core objects).
    pub api_version: String,
}

/// One value of a custom metric, independent of the API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricValue {
    /// The object described.
    pub described_object: ObjectReference,
    /// The metric name.
    pub metric: String,
    /// When the value was read.
    pub timestamp: jiff::Timestamp,
    /// Canonical quantity text.
    pub value: String,
    /// The metric label selector echoed back.
    pub selector: Option<LabelSelector>,
}

/// One value of an external metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalValue {
    /// The metric name.
    pub metric: String,
    /// All labels of the sample.
    pub labels: SampleLabels,
    /// The sample's time.
    pub timestamp: jiff::Timestamp,
    /// Canonical quantity text.
    pub value: String,
}

/// A Prometheus sample time (Unix seconds) as a timestamp truncated to the second.
pub fn unix_timestamp(seconds: f64) -> jiff::Timestamp {
    let whole = seconds.floor();
    if !(whole.is_finite() && whole.abs() < 1e15) {
        return jiff::Timestamp::UNIX_EPOCH;
    }
    jiff::Timestamp::from_second(whole as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Why a request cannot be answered. `api/` turns these into `Status` objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// No such metric for the resource (404).
    #[error("the server could not find the metric {metric} for {resource}")]
    MetricNotFound {
        /// The metric.
        metric: String,
        /// The resource as requested.
        resource: String,
    },
    /// The metric has no value for this object (404).
    #[error("the server could not find the metric {metric} for {resource} {name}")]
    NoValueFor {
        /// The metric.
        metric: String,
        /// The resource as requested.
        resource: String,
        /// The object.
        name: String,
    },
    /// A resource metrics object does not exist or has no metrics (404 with details).
    #[error("{message}")]
    ObjectNotFound {
        /// API group of the missing object (`metrics.k8s.io`), empty for core.
        group: &'static str,
        /// Kind, as the apiserver names it in `details` (`podmetrics`, `node`).
        kind: &'static str,
        /// The object (`ns/name` for pods).
        name: String,
        /// `podmetrics.metrics.k8s.io "ns/name" not found`
        message: String,
    },
    /// The objects could not be listed (500), with the cause when an operator can act on it
    /// (a missing permission, a removed CRD).
    #[error("unable to list matching resources")]
    ListFailed(Option<String>),
    /// Prometheus failed or answered something unusable (500).
    #[error("unable to fetch metrics")]
    FetchFailed,
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
}

/// Everything a request needs. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    registry: SharedRegistry,
    cluster: Cluster,
    prometheus: PrometheusClient,
}

impl Provider {
    /// A provider over the registry in use, a cluster and a Prometheus client.
    pub fn new(registry: SharedRegistry, cluster: Cluster, prometheus: PrometheusClient) -> Self {
        Provider {
            registry,
            cluster,
            prometheus,
        }
    }

    /// The registry in use; a request keeps the one it started with, whatever reloads happen.
    fn registry(&self) -> Arc<Registry> {
        self.registry.load_full()
    }

    /// Run a query and return its vector; anything else is a fetch failure, logged with the
    /// query (the client only learns that fetching failed).
    async fn vector(&self, query: &str) -> Result<Arc<QueryResult>, ProviderError> {
        tracing::debug!(%query, "prometheus query");
        match self.prometheus.query(query).await {
            Ok(result) => Ok(result),
            Err(e) => {
                tracing::warn!(%query, error = %e, "prometheus query failed");
                Err(ProviderError::FetchFailed)
            }
        }
    }
}

/// A metric the registry cannot vouch for (its listings failed): a failure, never "not found".
fn unavailable(metric: &str, error: crate::registry::Unavailable) -> ProviderError {
    tracing::warn!(%metric, "{error}: answering as a failure");
    ProviderError::FetchFailed
}

/// A failed object listing, logged; the cause goes to the client when it says what to fix.
fn list_failed(what: &str, error: crate::kube::Error) -> ProviderError {
    tracing::warn!(error = %error, "listing {what} failed");
    match error {
        crate::kube::Error::NotSynced(cause) => ProviderError::ListFailed(Some(cause)),
        _ => ProviderError::ListFailed(None),
    }
}

/// The canonical quantity of a sample, or `None` (logged) for NaN, ±Inf and values out of
/// range, which no Kubernetes client can read.
fn sample_quantity(sample: &Sample, format: Format, what: &str) -> Option<String> {
    match quantity::from_f64(sample.value, format) {
        Ok(q) => Some(q),
        Err(e) => {
            tracing::debug!(metric = %what, labels = ?sample.labels, error = %e, "sample left out");
            None
        }
    }
}
