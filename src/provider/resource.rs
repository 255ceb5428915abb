//! metrics.k8s.io: CPU and memory of running pods (per container) and of nodes, from
//! `resourceRules`, shaped as metrics-server shapes them.
//!
//! Pods come from a metadata watch of running pods (`status.phase=Running`), as
//! prometheus-adapter's informer; one CPU and one memory query per namespace run concurrently.
//! A pod missing from either result is left out; a container with only one of the two gets 0
//! for the other; NaN and negative values count as 0. Lists are sorted by namespace and name,
//! containers by name (upstream's order is random).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use super::{Provider, ProviderError, list_failed, unix_timestamp};
use crate::kube::ObjectMeta;
use crate::prometheus::{QueryResult, Sample};
use crate::quantity::{self, Format};
use crate::resources::{GroupResource, ResourceInfo};
use crate::rules::query::ObjectQuery;
use crate::rules::{ResourceMetricRules, ResourceQueries, Rules};
use crate::selector::{FieldSelector, Selector};

/// Only running pods have resource metrics.
const RUNNING: &str = "status.phase=Running";

/// Fields a metrics.k8s.io `fieldSelector` may name.
pub const POD_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Fields a node metrics `fieldSelector` may name.
pub const NODE_FIELDS: &[&str] = &["metadata.name"];

/// Which pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMetricsRequest {
    /// One namespace, or all.
    pub namespace: Option<String>,
    /// One pod (then `namespace` is set), or all matching.
    pub name: Option<String>,
    /// `labelSelector`
    pub label_selector: Selector,
    /// `fieldSelector`
    pub field_selector: FieldSelector,
}

/// Which nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMetricsRequest {
    /// One node, or all matching.
    pub name: Option<String>,
    /// `labelSelector`
    pub label_selector: Selector,
    /// `fieldSelector`
    pub field_selector: FieldSelector,
}

/// Usage of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    /// Container name.
    pub name: String,
    /// CPU cores, canonical quantity.
    pub cpu: String,
    /// Memory bytes, canonical quantity.
    pub memory: String,
}

/// Metrics of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMetrics {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
    /// The earliest sample time.
    pub timestamp: jiff::Timestamp,
    /// The window the values cover.
    pub window: Duration,
    /// Containers, by name.
    pub containers: Vec<ContainerUsage>,
}

/// Metrics of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMetrics {
    /// Name.
    pub name: String,
    /// The node's labels.
    pub labels: BTreeMap<String, String>,
    /// The earlier of the two sample times.
    pub timestamp: jiff::Timestamp,
    /// The window the values cover.
    pub window: Duration,
    /// CPU cores, canonical quantity.
    pub cpu: String,
    /// Memory bytes, canonical quantity.
    pub memory: String,
}

/// A container's CPU and memory (value, sample time), either possibly missing.
type CpuAndMemory<'a> = (Option<&'a (String, f64)>, Option<&'a (String, f64)>);

/// A value as metrics-server reports it: NaN and negatives are 0; infinities are unusable.
fn usage(sample: &Sample, format: Format) -> Option<String> {
    let value = if sample.value.is_nan() || sample.value < 0.0 {
        0.0
    } else {
        sample.value
    };
    quantity::from_f64(value, format).ok()
}

/// The samples of a vector result (checked by `run_object_query`); none for anything else.
fn vector_samples(result: &QueryResult) -> &[Sample] {
    match result {
        QueryResult::Vector(samples) => samples,
        _ => &[],
    }
}

fn field_value(object: &ObjectMeta, field: &str) -> String {
    match field {
        "metadata.name" => object.name.clone(),
        "metadata.namespace" => object.namespace.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Per-container values of one namespace's pods: (pod, container) -> (quantity, sample time).
type ContainerValues = HashMap<(String, String), (String, f64)>;

/// The `PodMetrics` of `pods` (in their order) from their containers' CPU and memory values, as
/// metrics-server reports them: a pod is left out when it has no CPU or no memory sample at all
/// (it is starting or gone); a container with only one of the two reports the other as 0; the
/// timestamp is the earliest sample's.
fn pod_metrics_of(
    namespace: &str,
    pods: &[Arc<ObjectMeta>],
    cpu: &ContainerValues,
    memory: &ContainerValues,
    window: Duration,
) -> Vec<PodMetrics> {
    let mut by_pod: BTreeMap<&str, BTreeMap<&str, CpuAndMemory<'_>>> = BTreeMap::new();
    for ((pod, container), v) in cpu {
        by_pod
            .entry(pod)
            .or_default()
            .entry(container)
            .or_default()
            .0 = Some(v);
    }
    for ((pod, container), v) in memory {
        by_pod
            .entry(pod)
            .or_default()
            .entry(container)
            .or_default()
            .1 = Some(v);
    }
    let mut out = Vec::new();
    for pod in pods {
        let Some(containers) = by_pod.get(pod.name.as_str()) else {
            tracing::debug!(pod = %pod.name, %namespace, "no resource metrics for pod");
            continue;
        };
        let has_cpu = containers.values().any(|(c, _)| c.is_some());
        let has_memory = containers.values().any(|(_, m)| m.is_some());
        if !(has_cpu && has_memory) {
            tracing::debug!(pod = %pod.name, %namespace, "pod lacks cpu or memory metrics; skipped");
            continue;
        }
        let earliest = containers
            .values()
            .flat_map(|(c, m)| [c, m])
            .flatten()
            .map(|(_, ts)| *ts)
            .fold(f64::INFINITY, f64::min);
        out.push(PodMetrics {
            namespace: namespace.to_string(),
            name: pod.name.clone(),
            labels: pod.labels.clone(),
            timestamp: unix_timestamp(earliest),
            window,
            containers: containers
                .iter()
                .map(|(name, (c, m))| ContainerUsage {
                    name: name.to_string(),
                    cpu: c.map_or_else(|| "0".into(), |(v, _)| v.clone()),
                    memory: m.map_or_else(|| "0".into(), |(v, _)| v.clone()),
                })
                .collect(),
        });
    }
    out
}

impl Provider {
    async fn core_resource(&self, plural: &str) -> Result<ResourceInfo, ProviderError> {
        self.cluster
            .resolve(&GroupResource::new("", plural))
            .await
            .ok_or(ProviderError::ListFailed(None))
    }

    /// Run a resource rules query; its samples. A query that cannot be built (rules that map no
    /// label to pods or nodes) or that fails is a fetch failure: objects never silently vanish.
    async fn run_object_query(
        &self,
        built: Result<ObjectQuery, crate::rules::query::QueryError>,
    ) -> Result<(ObjectQuery, Arc<QueryResult>), ProviderError> {
        let query = built.map_err(|e| {
            tracing::warn!(error = %e, "no resource metrics query");
            ProviderError::FetchFailed
        })?;
        let result = self.vector(&query.query).await?;
        if !matches!(&*result, QueryResult::Vector(_)) {
            tracing::warn!(query = %query.query, "prometheus answered a non-vector result");
            return Err(ProviderError::FetchFailed);
        }
        Ok((query, result))
    }

    /// Per-container samples of one namespace's pods: (pod, container) -> (value, timestamp).
    async fn container_values(
        &self,
        queries: &ResourceQueries,
        pods: &ResourceInfo,
        namespace: &str,
        names: &[String],
        format: Format,
    ) -> Result<ContainerValues, ProviderError> {
        let catalog = self.cluster.catalog();
        let built = queries.pods_query(&catalog, pods, namespace, names);
        let (query, result) = self.run_object_query(built).await?;
        let mut values = HashMap::new();
        for sample in vector_samples(&result) {
            let (Some(pod), Some(container)) = (
                sample.labels.get(&query.resource_label),
                sample.labels.get(&queries.container_label),
            ) else {
                continue;
            };
            if let Some(v) = usage(sample, format) {
                values.insert(
                    (pod.to_string(), container.to_string()),
                    (v, sample.timestamp),
                );
            }
        }
        Ok(values)
    }

    async fn namespace_pod_metrics(
        &self,
        rules: &ResourceMetricRules,
        pods_info: &ResourceInfo,
        namespace: &str,
        pods: &[Arc<ObjectMeta>],
    ) -> Result<Vec<PodMetrics>, ProviderError> {
        let names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
        let (cpu, memory) = tokio::join!(
            self.container_values(&rules.cpu, pods_info, namespace, &names, Format::DecimalSI),
            self.container_values(
                &rules.memory,
                pods_info,
                namespace,
                &names,
                Format::BinarySI
            ),
        );
        Ok(pod_metrics_of(
            namespace,
            pods,
            &cpu?,
            &memory?,
            rules.window,
        ))
    }

    /// Metrics of running pods; for one named pod, 404 when it is not running or has none.
    pub async fn pod_metrics(
        &self,
        req: &PodMetricsRequest,
    ) -> Result<Vec<PodMetrics>, ProviderError> {
        // A reload may remove the resource rules: then every request fails.
        let all_rules: Arc<Rules> = self.registry().rules().clone();
        let rules = all_rules
            .resource
            .as_ref()
            .ok_or(ProviderError::FetchFailed)?;
        let pods_info = self.core_resource("pods").await?;
        let listed = match (&req.name, &req.namespace) {
            (Some(name), Some(ns)) => self
                .cluster
                .get(&pods_info, Some(ns), name, Some(RUNNING))
                .await
                .map(|p| p.into_iter().collect::<Vec<_>>()),
            _ => {
                self.cluster
                    .list(
                        &pods_info,
                        req.namespace.as_deref(),
                        &req.label_selector,
                        Some(RUNNING),
                    )
                    .await
            }
        };
        let pods = listed.map_err(|e| list_failed("pods", e))?;
        let pods: Vec<Arc<ObjectMeta>> = pods
            .into_iter()
            .filter(|p| req.field_selector.matches(|f| field_value(p, f)))
            .collect();
        let mut by_namespace: BTreeMap<String, Vec<Arc<ObjectMeta>>> = BTreeMap::new();
        for pod in pods {
            by_namespace
                .entry(pod.namespace.clone().unwrap_or_default())
                .or_default()
                .push(pod);
        }
        let per_namespace = by_namespace
            .iter()
            .map(|(ns, pods)| self.namespace_pod_metrics(rules, &pods_info, ns, pods));
        let metrics: Vec<PodMetrics> = join_all(per_namespace)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        if let (Some(name), Some(ns), true) = (&req.name, &req.namespace, metrics.is_empty()) {
            return Err(ProviderError::ObjectNotFound {
                group: "metrics.k8s.io",
                kind: "podmetrics",
                name: format!("{ns}/{name}"),
                message: format!("podmetrics.metrics.k8s.io \"{ns}/{name}\" not found"),
            });
        }
        Ok(metrics)
    }

    /// One value per node from a node query: (value, timestamp), the first sample per node.
    async fn node_values(
        &self,
        queries: &ResourceQueries,
        nodes: &ResourceInfo,
        names: &[String],
        format: Format,
    ) -> Result<HashMap<String, (String, f64)>, ProviderError> {
        let catalog = self.cluster.catalog();
        let built = queries.nodes_query(&catalog, nodes, names);
        let (query, result) = self.run_object_query(built).await?;
        let mut values = HashMap::new();
        for sample in vector_samples(&result) {
            if let (Some(node), Some(v)) = (
                sample.labels.get(&query.resource_label),
                usage(sample, format),
            ) {
                values
                    .entry(node.to_string())
                    .or_insert((v, sample.timestamp));
            }
        }
        Ok(values)
    }

    /// Metrics of nodes; for one named node, 404 when it is unknown or has none.
    pub async fn node_metrics(
        &self,
        req: &NodeMetricsRequest,
    ) -> Result<Vec<NodeMetrics>, ProviderError> {
        let all_rules: Arc<Rules> = self.registry().rules().clone();
        let rules = all_rules
            .resource
            .as_ref()
            .ok_or(ProviderError::FetchFailed)?;
        let nodes_info = self.core_resource("nodes").await?;
        let listed = match &req.name {
            Some(name) => self
                .cluster
                .get(&nodes_info, None, name, None)
                .await
                .map(|n| n.into_iter().collect::<Vec<_>>()),
            None => {
                self.cluster
                    .list(&nodes_info, None, &req.label_selector, None)
                    .await
            }
        };
        let nodes: Vec<Arc<ObjectMeta>> = listed
            .map_err(|e| list_failed("nodes", e))?
            .into_iter()
            .filter(|n| req.field_selector.matches(|f| field_value(n, f)))
            .collect();
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let mut metrics = Vec::new();
        if !names.is_empty() {
            let (cpu, memory) = tokio::join!(
                self.node_values(&rules.cpu, &nodes_info, &names, Format::DecimalSI),
                self.node_values(&rules.memory, &nodes_info, &names, Format::BinarySI),
            );
            let (cpu, memory) = (cpu?, memory?);
            for node in &nodes {
                let (Some((c, ct)), Some((m, mt))) = (cpu.get(&node.name), memory.get(&node.name))
                else {
                    tracing::debug!(node = %node.name, "node lacks cpu or memory metrics; skipped");
                    continue;
                };
                metrics.push(NodeMetrics {
                    name: node.name.clone(),
                    labels: node.labels.clone(),
                    timestamp: unix_timestamp(ct.min(*mt)),
                    window: rules.window,
                    cpu: c.clone(),
                    memory: m.clone(),
                });
            }
        }
        if let (Some(name), true) = (&req.name, metrics.is_empty()) {
            return Err(ProviderError::ObjectNotFound {
                group: "",
                kind: "node",
                name: name.clone(),
                message: format!("node \"{name}\" not found"),
            });
        }
        Ok(metrics)
    }
}

#[cfg(test)]
mod tests;
