//! An HPA simulator: given an `autoscaling/v2` HorizontalPodAutoscaler, the cluster state and the
//! URL of a metrics server, it makes exactly the requests the native HPA controller makes and
//! computes the replica count the controller would set, so integration tests can assert what a
//! user of the adapter would see (`kubectl get hpa`), not just the metric values.
//!
//! The arithmetic is the library's ([`metrics_adapter::explain::replicas`]: per-metric proposals,
//! the decision over them, bounds and rate limits; [`metrics_adapter::explain::hpa`]: the pods'
//! view, metric selectors, request paths and the default metric), the same code
//! `metrics-adapter explain` uses. The submodules hold what only a running controller keeps
//! ([`normalize`]: the recommendation and scale-event history for stabilization and rate limits)
//! and its client side ([`wire`]: response decoding, discovery); this module is the thin I/O
//! layer. Time never comes from the clock: every sync is given its `now`, so tests can drive the
//! downscale stabilization window and the CPU initialization period explicitly.
//! Unlike the controller, a sync does not write the scale: the test applies `desired_replicas`.

pub mod normalize;
pub mod wire;

use std::collections::BTreeMap;
use std::future::Future;

use super::label_match::Selector;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use metrics_adapter::explain::hpa::{self as library, ResourceGoal};
use metrics_adapter::explain::replicas::{
    self, Behavior, Decision, PodInfo, PodValue, Proposal, Sync, Tolerance,
};
use metrics_adapter::quantity::Quantity;

use normalize::ScalingHistory;
use wire::CustomMetricsVersion;

/// The cluster as the controller sees it through its informers: the scale subresource of the
/// target and the pods matching its selector. A Kubernetes API double can implement this; tests
/// of the simulator use [`InMemoryCluster`].
pub trait ClusterState {
    /// `GET …/{target}/scale` of the HPA's `scaleTargetRef` in `namespace`.
    fn scale(
        &self,
        namespace: &str,
        target: &CrossVersionObjectReference,
    ) -> impl Future<Output = Result<Scale, String>> + Send;

    /// The pods of `namespace` matching the label `selector` (the scale's `status.selector`).
    fn pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<Vec<Pod>, String>> + Send;

    /// The RESTMapper's resource for an Object metric's `describedObject`: `plural` for the
    /// core group, `plural.group` otherwise. The default guesses the plural as apimachinery's
    /// `UnsafeGuessKindToResource` does (`Deployment` → `deployments.apps`).
    fn resource_for_kind(&self, api_version: &str, kind: &str) -> Result<String, String> {
        guess_resource(api_version, kind)
    }
}

/// `UnsafeGuessKindToResource` plus the group: lowercase, then `s`→`ses`, `y`→`ies`, else `+s`.
pub fn guess_resource(api_version: &str, kind: &str) -> Result<String, String> {
    if kind.is_empty() {
        return Err("describedObject.kind is empty".into());
    }
    let singular = kind.to_lowercase();
    let plural = if singular.ends_with("endpoints") {
        singular
    } else if singular.ends_with('s') {
        format!("{singular}es")
    } else if let Some(stem) = singular.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{singular}s")
    };
    Ok(match api_version.split_once('/') {
        Some((group, _)) if !group.is_empty() => format!("{plural}.{group}"),
        _ => plural,
    })
}

/// A plain in-memory cluster: one scale target and a list of pods, filtered by namespace and
/// selector like a pod lister.
#[derive(Debug, Clone, Default)]
pub struct InMemoryCluster {
    /// The scale subresource returned for any target.
    pub scale: Scale,
    /// All pods; `pods()` returns those matching the namespace and selector.
    pub pods: Vec<Pod>,
}

impl InMemoryCluster {
    /// A target with `replicas` (spec and status) selecting pods by `selector`.
    pub fn new(replicas: i32, selector: &str) -> InMemoryCluster {
        let scale = Scale {
            spec: Some(ScaleSpec {
                replicas: Some(replicas),
            }),
            status: Some(ScaleStatus {
                replicas,
                selector: Some(selector.to_owned()),
            }),
            ..Scale::default()
        };
        InMemoryCluster {
            scale,
            pods: Vec::new(),
        }
    }

    /// Set the target's `spec.replicas` and `status.replicas`, as a scale and rollout would.
    pub fn set_replicas(&mut self, replicas: i32) {
        if let Some(spec) = self.scale.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        if let Some(status) = self.scale.status.as_mut() {
            status.replicas = replicas;
        }
    }
}

impl ClusterState for InMemoryCluster {
    async fn scale(
        &self,
        _namespace: &str,
        _target: &CrossVersionObjectReference,
    ) -> Result<Scale, String> {
        Ok(self.scale.clone())
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, String> {
        let selector = Selector::parse(selector)?;
        Ok(self
            .pods
            .iter()
            .filter(|p| {
                p.metadata
                    .namespace
                    .as_deref()
                    .is_none_or(|ns| ns == namespace)
            })
            .filter(|p| selector.matches(&p.metadata.labels.clone().unwrap_or_default()))
            .cloned()
            .collect())
    }
}

fn milli(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Result<i64, String> {
    q.0.parse::<Quantity>()
        .map(|q| q.milli_value())
        .map_err(|e| e.to_string())
}

/// `metav1.LabelSelectorAsSelector(selector).String()` of a metric's selector, with the keys and
/// values checked by the tests' own selector parser, as apimachinery checks them.
fn metric_selector(selector: Option<&LabelSelector>) -> Result<String, String> {
    let text = library::selector_text(selector)?;
    Selector::parse(&text)?;
    Ok(text)
}

/// The controller's settings (kube-controller-manager flags) and how the simulator talks to the
/// metrics server.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 m).
    pub cpu_initialization_period: SignedDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay: SignedDuration,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5 m).
    pub downscale_stabilization: SignedDuration,
    /// The custom metrics version; `None` discovers it from `GET /apis` on the metrics server,
    /// as the controller does from kube-apiserver (re-read after 15 s).
    pub custom_metrics_version: Option<CustomMetricsVersion>,
    /// A bearer token to send with every request, if the server wants one.
    pub bearer_token: Option<String>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            tolerance: 0.1,
            cpu_initialization_period: SignedDuration::from_mins(5),
            initial_readiness_delay: SignedDuration::from_secs(30),
            downscale_stabilization: SignedDuration::from_mins(5),
            custom_metrics_version: None,
            bearer_token: None,
        }
    }
}

/// What happened to one entry of `spec.metrics` during a sync.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricOutcome {
    /// The metric's `type` (`Pods`, `Object`, `External`, `Resource`, `ContainerResource`).
    pub source_type: String,
    /// The controller's name for it (`pods metric http_requests`, `Deployment metric qps`,
    /// `external metric queue_depth`, `cpu resource utilization (percentage of request)`).
    pub description: String,
    /// The requests made for it (path and query, as sent), not counting discovery.
    pub requests: Vec<String>,
    /// The values read, by described object name, pod name, or external labels, in milli-units.
    pub values: Vec<(String, i64)>,
    /// The proposal, or the error that made the metric invalid.
    pub result: Result<Proposal, String>,
}

/// The result of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    /// The scale's `spec.replicas` at the start of the sync.
    pub current_replicas: i32,
    /// The replica count the controller sets (equal to `current_replicas` when it does not
    /// scale).
    pub desired_replicas: i32,
    /// The largest proposal over valid metrics, before stabilization and limits (`None` when
    /// the metrics were not used).
    pub metric_replicas: Option<i32>,
    /// One entry per metric, in `spec.metrics` order.
    pub metrics: Vec<MetricOutcome>,
    /// Every request made, in order (including discovery).
    pub requests: Vec<String>,
    /// The `ScalingActive` reason (`ValidMetricFound`, `ScalingDisabled`, `InvalidSelector`,
    /// `FailedGetPodsMetric`, …), or why the count was forced (`TooFewReplicas`/`TooManyReplicas`
    /// for a current count outside `[min, max]`).
    pub reason: String,
    /// The `ScalingLimited` reason after normalization, if the metrics were used.
    pub limit: Option<&'static str>,
    /// The error the controller reports for this sync, if any.
    pub error: Option<String>,
}

/// Where the custom metrics version is discovered (kube-apiserver's `/apis`, here the metrics
/// server's).
const DISCOVERY_PATH: &str = "/apis";

/// Everything one sync needs about the target.
struct Target {
    namespace: String,
    pod_selector: String,
    spec_replicas: i32,
    status_replicas: i32,
    pods: Vec<PodInfo>,
    calc: Sync,
}

/// The HPA controller for one HPA, talking to one metrics server.
pub struct HpaSimulator {
    base_url: String,
    client: reqwest::Client,
    config: ControllerConfig,
    history: ScalingHistory,
    discovered: Option<(CustomMetricsVersion, Timestamp)>,
    requests: Vec<String>,
}

impl HpaSimulator {
    /// A simulator with the controller's defaults for the metrics server at `base_url`
    /// (`https://127.0.0.1:PORT`; any certificate is accepted).
    pub fn new(base_url: &str) -> Result<HpaSimulator, String> {
        HpaSimulator::with_config(base_url, ControllerConfig::default())
    }

    /// A simulator with explicit controller settings.
    pub fn with_config(base_url: &str, config: ControllerConfig) -> Result<HpaSimulator, String> {
        // Another test may have installed it already; either way one provider is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(HpaSimulator {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client,
            config,
            history: ScalingHistory::default(),
            discovered: None,
            requests: Vec::new(),
        })
    }

    /// One `reconcileAutoscaler` at time `now`: read the scale and pods from `cluster`, query
    /// the metrics server for every metric, and return what the controller would set.
    /// Errors are for the cluster side (scale or pods unreadable); metric failures are
    /// reported in the outcome, as the controller reports them in conditions.
    pub async fn sync<C: ClusterState>(
        &mut self,
        hpa: &HorizontalPodAutoscaler,
        cluster: &C,
        now: Timestamp,
    ) -> Result<SyncOutcome, String> {
        self.requests.clear();
        let spec = hpa.spec.clone();
        let namespace = hpa
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let scale = cluster.scale(&namespace, &spec.scale_target_ref).await?;
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let status = scale.status.clone().unwrap_or_default();
        self.history.record_initial(current, now);

        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        let mut outcome = SyncOutcome {
            current_replicas: current,
            desired_replicas: current,
            metric_replicas: None,
            metrics: Vec::new(),
            requests: Vec::new(),
            reason: String::new(),
            limit: None,
            error: None,
        };
        let downscale_window = self.config.downscale_stabilization.as_secs() as i32;
        let behavior = spec
            .behavior
            .as_ref()
            .map(|b| Behavior::of(b, downscale_window));
        if let Some(fixed) = replicas::before_metrics(current, min, max) {
            outcome.reason = fixed.reason.into();
            if fixed.reason == "ScalingDisabled" {
                return Ok(outcome);
            }
            outcome.desired_replicas = fixed.replicas;
        } else {
            let selector = status.selector.clone().unwrap_or_default();
            if selector.is_empty() {
                outcome.reason = "InvalidSelector".into();
                outcome.error = Some("selector is required".into());
                return Ok(outcome);
            }
            let parsed = match Selector::parse(&selector) {
                Ok(parsed) => parsed,
                Err(e) => {
                    outcome.reason = "InvalidSelector".into();
                    outcome.error = Some(format!(
                        "couldn't convert selector into a corresponding internal selector object: {e}"
                    ));
                    return Ok(outcome);
                }
            };
            let pods = cluster
                .pods(&namespace, &selector)
                .await?
                .iter()
                .map(library::pod_info)
                .collect();
            let tolerance = Tolerance::of(spec.behavior.as_ref(), self.config.tolerance);
            let mut calc = Sync::at(now, tolerance);
            calc.cpu_initialization_period = self.config.cpu_initialization_period;
            calc.initial_readiness_delay = self.config.initial_readiness_delay;
            let target = Target {
                namespace: namespace.clone(),
                // Requests carry the parsed selector printed again (`Selector.String()`).
                pod_selector: parsed.to_string(),
                spec_replicas: current,
                status_replicas: status.replicas,
                pods,
                calc,
            };
            let metric_specs = spec
                .metrics
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(library::default_metrics);
            for metric in &metric_specs {
                let m = self.compute_metric(metric, &target, cluster, now).await;
                outcome.metrics.push(m);
            }
            let (replicas, reason, error) = combine(&outcome.metrics, current);
            outcome.reason = reason;
            outcome.error = error;
            let Some(replicas) = replicas else {
                outcome.requests = std::mem::take(&mut self.requests);
                return Ok(outcome);
            };
            outcome.metric_replicas = Some(replicas);
            let normalized = match &behavior {
                None => self.history.normalize_legacy(
                    now,
                    self.config.downscale_stabilization,
                    current,
                    replicas,
                    min,
                    max,
                ),
                Some(b) => self
                    .history
                    .normalize_with_behavior(now, b, current, replicas, min, max),
            };
            outcome.desired_replicas = normalized.replicas;
            outcome.limit = Some(normalized.reason);
        }
        self.history
            .record_scale(now, behavior.is_some(), current, outcome.desired_replicas);
        outcome.requests = std::mem::take(&mut self.requests);
        Ok(outcome)
    }

    /// GET `path_and_query` on the metrics server; non-2xx answers become client-go's error.
    async fn get(&mut self, path_and_query: &str) -> Result<Vec<u8>, String> {
        self.requests.push(path_and_query.to_owned());
        let mut request = self
            .client
            .get(format!("{}{path_and_query}", self.base_url))
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.kubernetes.protobuf, */*",
            );
        if let Some(token) = &self.config.bearer_token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let code = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if !code.is_success() {
            return Err(wire::error_from_response(code.as_u16(), &body));
        }
        Ok(body.to_vec())
    }

    /// The custom metrics version: configured, or discovered (cached for one 15 s resync).
    async fn custom_metrics_version(
        &mut self,
        now: Timestamp,
    ) -> Result<CustomMetricsVersion, String> {
        if let Some(version) = self.config.custom_metrics_version {
            return Ok(version);
        }
        if let Some((version, at)) = self.discovered
            && now.duration_since(at) < SignedDuration::from_secs(15)
        {
            return Ok(version);
        }
        let body = self.get(DISCOVERY_PATH).await?;
        let version = wire::preferred_custom_metrics_version(&body)?;
        self.discovered = Some((version, now));
        Ok(version)
    }

    /// `computeReplicasForMetric` for one metric.
    async fn compute_metric<C: ClusterState>(
        &mut self,
        spec: &MetricSpec,
        target: &Target,
        cluster: &C,
        now: Timestamp,
    ) -> MetricOutcome {
        let first_request = self.requests.len();
        let mut outcome = MetricOutcome {
            source_type: spec.type_.clone(),
            description: String::new(),
            requests: Vec::new(),
            values: Vec::new(),
            result: Err(String::new()),
        };
        outcome.result = match spec.type_.as_str() {
            "Pods" => self.pods_metric(spec, target, now, &mut outcome).await,
            "Object" => {
                self.object_metric(spec, target, cluster, now, &mut outcome)
                    .await
            }
            "External" => self.external_metric(spec, target, &mut outcome).await,
            "Resource" | "ContainerResource" => {
                self.resource_metric(spec, target, &mut outcome).await
            }
            other => Err(format!("unknown metric source type {other:?}")),
        };
        outcome.requests = self.requests[first_request..]
            .iter()
            .filter(|r| *r != DISCOVERY_PATH)
            .cloned()
            .collect();
        outcome
    }

    async fn pods_metric(
        &mut self,
        spec: &MetricSpec,
        target: &Target,
        now: Timestamp,
        outcome: &mut MetricOutcome,
    ) -> Result<Proposal, String> {
        let fail = |e: String| format!("failed to get pods metric value: {e}");
        let source = spec
            .pods
            .as_ref()
            .ok_or_else(|| fail("pods metric source is missing".into()))?;
        let name = &source.metric.name;
        outcome.description = format!("pods metric {name}");
        let metric_selector = metric_selector(source.metric.selector.as_ref()).map_err(fail)?;
        let target_value = average_value_milli(&source.target).map_err(fail)?;
        let unable = |e: String| fail(format!("unable to get metric {name}: {e}"));
        let version = self.custom_metrics_version(now).await.map_err(unable)?;
        let path = library::custom_metric_path(
            version.as_str(),
            Some(&target.namespace),
            "pods",
            None,
            name,
            &target.pod_selector,
            &metric_selector,
        );
        let body = self.get(&path).await.map_err(|e| {
            unable(format!(
                "unable to fetch metrics from custom metrics API: {e}"
            ))
        })?;
        let items = wire::parse_metric_value_list(&body).map_err(|e| {
            unable(format!(
                "unable to fetch metrics from custom metrics API: {e}"
            ))
        })?;
        if items.is_empty() {
            return Err(unable("no metrics returned from custom metrics API".into()));
        }
        outcome.values = items.iter().map(|i| (i.name.clone(), i.value)).collect();
        let values: BTreeMap<String, PodValue> = items
            .iter()
            .map(|i| (i.name.clone(), i.pod_value()))
            .collect();
        target
            .calc
            .average_value(
                target.spec_replicas,
                target_value,
                &values,
                &target.pods,
                None,
            )
            .map_err(fail)
    }

    async fn object_metric<C: ClusterState>(
        &mut self,
        spec: &MetricSpec,
        target: &Target,
        cluster: &C,
        now: Timestamp,
        outcome: &mut MetricOutcome,
    ) -> Result<Proposal, String> {
        let fail = |e: String| format!("failed to get object metric value: {e}");
        let source = spec
            .object
            .as_ref()
            .ok_or_else(|| fail("object metric source is missing".into()))?;
        let (name, object) = (&source.metric.name, &source.described_object);
        outcome.description = format!("{} metric {name}", object.kind);
        let metric_selector = metric_selector(source.metric.selector.as_ref()).map_err(fail)?;
        let goal = library::object_goal(&source.target).map_err(fail)?;
        let (per_pod, target_value) = (goal.per_pod, milli(goal.quantity).map_err(fail)?);
        // Go's own (garbled) wording: "unable to get metric %s: %v on %s %s/%s".
        let unable = |e: String| {
            fail(format!(
                "unable to get metric {name}: {} on {} {}/{e}",
                object.kind, target.namespace, object.name
            ))
        };
        let api_version = object.api_version.clone().unwrap_or_default();
        let version = self.custom_metrics_version(now).await.map_err(unable)?;
        let path = if object.kind == "Namespace" && !api_version.contains('/') {
            library::custom_metric_path(
                version.as_str(),
                None,
                "namespaces",
                Some(&target.namespace),
                name,
                "",
                &metric_selector,
            )
        } else {
            let resource = cluster
                .resource_for_kind(&api_version, &object.kind)
                .map_err(unable)?;
            library::custom_metric_path(
                version.as_str(),
                Some(&target.namespace),
                &resource,
                Some(&object.name),
                name,
                "",
                &metric_selector,
            )
        };
        let fetch = |e: String| {
            unable(format!(
                "unable to fetch metrics from custom metrics API: {e}"
            ))
        };
        let body = self.get(&path).await.map_err(fetch)?;
        let items = wire::parse_metric_value_list(&body).map_err(fetch)?;
        if items.len() != 1 {
            return Err(fetch(format!(
                "the custom metrics API server returned {} results when we asked for exactly one",
                items.len()
            )));
        }
        let usage = items[0].value;
        outcome.values = vec![(items[0].name.clone(), usage)];
        target
            .calc
            .value_metric(
                per_pod,
                target.spec_replicas,
                target.status_replicas,
                usage,
                target_value,
                &target.pods,
            )
            .map_err(fail)
    }

    async fn external_metric(
        &mut self,
        spec: &MetricSpec,
        target: &Target,
        outcome: &mut MetricOutcome,
    ) -> Result<Proposal, String> {
        let fail = |e: String| format!("failed to get external metric value: {e}");
        let source = spec
            .external
            .as_ref()
            .ok_or_else(|| fail("external metric source is missing".into()))?;
        let name = &source.metric.name;
        outcome.description = format!("external metric {name}");
        let goal = library::external_goal(&source.target).map_err(fail)?;
        let (per_pod, target_value) = (goal.per_pod, milli(goal.quantity).map_err(fail)?);
        let selector = metric_selector(source.metric.selector.as_ref()).map_err(fail)?;
        let unable = |e: String| {
            fail(format!(
                "unable to get external metric {}/{name}/{selector}: {e}",
                target.namespace
            ))
        };
        let fetch = |e: String| {
            unable(format!(
                "unable to fetch metrics from external metrics API: {e}"
            ))
        };
        let path = library::external_metric_path(&target.namespace, name, &selector);
        let body = self.get(&path).await.map_err(fetch)?;
        let items = wire::parse_external_metric_value_list(&body).map_err(fetch)?;
        if items.is_empty() {
            return Err(unable(
                "no metrics returned from external metrics API".into(),
            ));
        }
        outcome.values = items
            .iter()
            .map(|i| {
                let labels: Vec<_> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (labels.join(","), i.value)
            })
            .collect();
        let values: Vec<i64> = items.iter().map(|i| i.value).collect();
        let total = replicas::external_total(&values);
        target
            .calc
            .value_metric(
                per_pod,
                target.spec_replicas,
                target.status_replicas,
                total,
                target_value,
                &target.pods,
            )
            .map_err(fail)
    }

    async fn resource_metric(
        &mut self,
        spec: &MetricSpec,
        target: &Target,
        outcome: &mut MetricOutcome,
    ) -> Result<Proposal, String> {
        let (resource, container, t) = match (&spec.resource, &spec.container_resource) {
            (Some(r), _) if spec.type_ == "Resource" => (r.name.clone(), None, &r.target),
            (_, Some(c)) if spec.type_ == "ContainerResource" => {
                (c.name.clone(), Some(c.container.clone()), &c.target)
            }
            _ => return Err(format!("{} metric source is missing", spec.type_)),
        };
        let kind = if container.is_some() {
            "container resource"
        } else {
            "resource"
        };
        let fail = |e: String| format!("failed to get {resource} {kind} metric value: {e}");
        let goal = library::resource_goal(t);
        let utilization = !matches!(goal, Ok(ResourceGoal::AverageValue(_)));
        outcome.description = if utilization {
            format!("{resource} {kind} utilization (percentage of request)")
        } else {
            format!("{resource} {kind}")
        };
        let target_value = match goal.map_err(fail)? {
            ResourceGoal::AverageValue(v) => milli(v).map_err(fail)?,
            ResourceGoal::Utilization(u) => i64::from(u),
        };
        let unable = |e: String| {
            fail(format!(
                "unable to get metrics for resource {resource}: {e}"
            ))
        };
        let fetch = |e: String| {
            unable(format!(
                "unable to fetch metrics from resource metrics API: {e}"
            ))
        };
        let path = library::pod_metrics_path(&target.namespace, &target.pod_selector);
        let body = self.get(&path).await.map_err(fetch)?;
        let items = wire::parse_pod_metrics_list(&body).map_err(fetch)?;
        if items.is_empty() {
            return Err(unable(
                "no metrics returned from resource metrics API".into(),
            ));
        }
        let metrics = wire::pod_metrics_for(&items, &resource, container.as_deref())
            .map_err(|e| unable(format!("failed to get container metrics: {e}")))?;
        outcome.values = metrics.iter().map(|(k, m)| (k.clone(), m.milli)).collect();
        let calc = &target.calc;
        let result = if utilization {
            calc.utilization(
                target.spec_replicas,
                target_value as i32,
                &resource,
                container.as_deref(),
                &metrics,
                &target.pods,
            )
        } else {
            calc.average_value(
                target.spec_replicas,
                target_value,
                &metrics,
                &target.pods,
                Some(&resource),
            )
        };
        result.map_err(fail)
    }
}

/// `MetricTarget.averageValue` as milli-units (read whatever the target's `type` says, as the
/// controller does for Pods metrics).
fn average_value_milli(target: &MetricTarget) -> Result<i64, String> {
    target
        .average_value
        .as_ref()
        .ok_or_else(|| "the target has no averageValue".to_owned())
        .and_then(milli)
}

/// The end of `computeReplicasForMetrics`: the library's decision over the proposals, with the
/// condition reason and error the controller reports. Returns `(replicas, reason, error)`.
fn combine(metrics: &[MetricOutcome], spec_replicas: i32) -> (Option<i32>, String, Option<String>) {
    let proposals: Vec<Option<i32>> = metrics
        .iter()
        .map(|m| m.result.as_ref().ok().map(|p| p.replicas))
        .collect();
    let invalid = proposals.iter().filter(|p| p.is_none()).count();
    let first_error = metrics.iter().find_map(|m| {
        let error = m.result.as_ref().err()?;
        let reason = match m.source_type.as_str() {
            "Pods" => "FailedGetPodsMetric",
            "Object" => "FailedGetObjectMetric",
            "External" => "FailedGetExternalMetric",
            "Resource" => "FailedGetResourceMetric",
            "ContainerResource" => "FailedGetContainerResourceMetric",
            _ => "InvalidMetricSourceType",
        };
        Some((error, reason))
    });
    let error = first_error.map(|(e, _)| {
        format!(
            "invalid metrics ({invalid} invalid out of {}), first error is: {e}",
            metrics.len()
        )
    });
    match replicas::decide(&proposals, spec_replicas) {
        Decision::Hold(_) => {
            let reason = first_error.map_or("", |(_, r)| r).to_owned();
            (None, reason, error)
        }
        Decision::Scale(replicas) => (Some(replicas), "ValidMetricFound".into(), error),
    }
}

#[cfg(test)]
mod tests;
