//! An HPA explained: for each metric of its spec, the request the controller makes, explained as
//! any request is; and what the controller would do now with the values, the target's scale and
//! its pods (see [`replicas`]).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::replicas::{
    self, Behavior, Decision, PodInfo, PodPhase, PodValue, Proposal, Readiness, Sync, Tolerance,
};
use super::{ExplainError, Explainer, Explanation, HpaReport, MetricReport};
use crate::provider::{CustomRequest, ExternalRequest, PodMetricsRequest};
use crate::quantity::{self, Format, Quantity};
use crate::resources::GroupResource;
use crate::selector::{FieldSelector, Selector};

/// The custom metrics version the controller asks (the adapter's preferred one).
pub const CUSTOM_VERSION: &str = "v1beta2";

/// Go's `url.QueryEscape`: unreserved characters kept, space as `+`, everything else `%XX`.
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `(*url.URL).EscapedPath()` of a path set without `RawPath`: unreserved characters and
/// `$ & + , / : ; = @` kept, everything else (`*` and `?` included) as `%XX`.
pub fn path_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `url.Values.Encode()` of the parameters the metrics clients send: keys sorted, values
/// query-escaped, empty values left out (the parameter codecs omit empty fields).
pub fn encode_query(params: &[(&str, &str)]) -> String {
    let mut params: Vec<_> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    params.sort_by_key(|(k, _)| *k);
    params
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// client-go's `Request.URL()`: the path escaped, then `?` and the query if there is one.
fn request(path: &str, params: &[(&str, &str)]) -> String {
    let query = encode_query(params);
    if query.is_empty() {
        path_escape(path)
    } else {
        format!("{}?{query}", path_escape(path))
    }
}

/// A custom metrics request as the controller's client writes it for `version`: the metric of
/// the object `name` (every object matching `label_selector` when `None`) of `resource`
/// (`plural` or `plural.group`, lowercased as client-go does) in `namespace` (`None` for
/// cluster-scoped objects); a Namespace's own metric is asked as `namespaces/{name}/metrics/…`.
pub fn custom_metric_path(
    version: &str,
    namespace: Option<&str>,
    resource: &str,
    name: Option<&str>,
    metric: &str,
    label_selector: &str,
    metric_selector: &str,
) -> String {
    let name = name.unwrap_or("*");
    let resource = resource.to_lowercase();
    let path = match (namespace, resource.as_str()) {
        (None, "namespaces") => format!("namespaces/{name}/metrics/{metric}"),
        (Some(ns), resource) => format!("namespaces/{ns}/{resource}/{name}/{metric}"),
        (None, resource) => format!("{resource}/{name}/{metric}"),
    };
    request(
        &format!("/apis/custom.metrics.k8s.io/{version}/{path}"),
        &[
            ("labelSelector", label_selector),
            ("metricLabelSelector", metric_selector),
        ],
    )
}

/// An External metrics request. client-go lowercases the resource segment, and the external
/// metrics client passes the metric name as the resource: `queueDepth` is asked as `queuedepth`.
pub fn external_metric_path(namespace: &str, metric: &str, selector: &str) -> String {
    request(
        &format!(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{}",
            metric.to_lowercase()
        ),
        &[("labelSelector", selector)],
    )
}

/// The pod metrics request of Resource metrics: every pod of `namespace` matching the selector.
pub fn pod_metrics_path(namespace: &str, pod_selector: &str) -> String {
    request(
        &format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"),
        &[("labelSelector", pod_selector)],
    )
}

/// The path of a custom metrics request, as the controller writes it.
pub fn custom_path(req: &CustomRequest) -> String {
    custom_metric_path(
        CUSTOM_VERSION,
        req.namespace.as_deref(),
        &req.resource,
        req.name.as_deref(),
        &req.metric,
        &req.label_selector.to_string(),
        &req.metric_selector.to_string(),
    )
}

/// The path of an external metrics request.
pub fn external_path(req: &ExternalRequest) -> String {
    external_metric_path(&req.namespace, &req.metric, &req.selector.to_string())
}

/// The path of the pod metrics request of Resource metrics.
pub fn pods_path(req: &PodMetricsRequest) -> String {
    pod_metrics_path(
        req.namespace.as_deref().unwrap_or_default(),
        &req.label_selector.to_string(),
    )
}

/// `metav1.LabelSelectorAsSelector(selector).String()`: `matchLabels` as `k=v`, expressions as
/// `k in (…)`, `k notin (…)`, `k`, `!k`, sorted by key, values sorted; nil or empty gives `""`.
/// The operators' values are checked as apimachinery checks them; keys and values are not
/// (parse the text for that).
pub fn selector_text(selector: Option<&LabelSelector>) -> Result<String, String> {
    let Some(selector) = selector else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        requirements.push((key.clone(), format!("{key}={value}")));
    }
    for e in selector.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        let key = &e.key;
        let text = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err("for 'in', 'notin' operators, values set can't be empty".into());
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err("values set must be empty for exists and does not exist".into());
            }
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        };
        requirements.push((key.clone(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(","))
}

/// What an Object or External metric's value is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueGoal<'a> {
    /// Whether the target is an average per pod of the scale target (`AverageValue`).
    pub per_pod: bool,
    /// The target.
    pub quantity: &'a K8sQuantity,
}

impl std::fmt::Display for ValueGoal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.per_pod {
            "AverageValue"
        } else {
            "Value"
        };
        write!(f, "{kind} {}", self.quantity.0)
    }
}

/// An Object metric's target as the controller reads it: `Value` or `AverageValue`, as its
/// `type` says.
pub fn object_goal(target: &MetricTarget) -> Result<ValueGoal<'_>, String> {
    let goal = |per_pod, quantity| Ok(ValueGoal { per_pod, quantity });
    match (target.type_.as_str(), &target.value, &target.average_value) {
        ("Value", Some(v), _) => goal(false, v),
        ("AverageValue", _, Some(v)) => goal(true, v),
        _ => Err("invalid object metric source: neither a value target nor an average value target was set".into()),
    }
}

/// An External metric's target as the controller reads it: `averageValue` when set, whatever
/// the `type` says, else `value`.
pub fn external_goal(target: &MetricTarget) -> Result<ValueGoal<'_>, String> {
    let goal = |per_pod, quantity| Ok(ValueGoal { per_pod, quantity });
    match (&target.average_value, &target.value) {
        (Some(v), _) => goal(true, v),
        (None, Some(v)) => goal(false, v),
        (None, None) => Err("invalid external metric source: neither a value target nor an average value target was set".into()),
    }
}

/// What a Resource or ContainerResource metric's usage is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResourceGoal<'a> {
    /// An average usage per pod (`averageValue`).
    AverageValue(&'a K8sQuantity),
    /// A percent of the pods' requests (`averageUtilization`).
    Utilization(i32),
}

impl std::fmt::Display for ResourceGoal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResourceGoal::AverageValue(q) => write!(f, "AverageValue {}", q.0),
            ResourceGoal::Utilization(u) => write!(f, "Utilization {u}%"),
        }
    }
}

/// A Resource or ContainerResource metric's target as the controller reads it: `averageValue`
/// when set, whatever the `type` says, else `averageUtilization`.
pub fn resource_goal(target: &MetricTarget) -> Result<ResourceGoal<'_>, String> {
    match (&target.average_value, target.average_utilization) {
        (Some(v), _) => Ok(ResourceGoal::AverageValue(v)),
        (None, Some(u)) => Ok(ResourceGoal::Utilization(u)),
        (None, None) => Err("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into()),
    }
}

fn parse_selector(selector: Option<&LabelSelector>) -> Result<Selector, String> {
    let text = selector_text(selector)?;
    Selector::parse(&text).map_err(|e| format!("the metric's selector {text:?} is invalid: {e}"))
}

fn milli(q: &K8sQuantity) -> Result<i64, String> {
    q.0.parse::<Quantity>()
        .map(|q| q.milli_value())
        .map_err(|e| format!("the target {:?} is not a quantity: {e}", q.0))
}

fn quantity_text(milli: i64) -> String {
    quantity::format_milli(milli, Format::DecimalSI)
}

fn timestamp_of(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Timestamp {
    t.0
}

/// What the controller reads of a pod.
pub fn pod_info(pod: &Pod) -> PodInfo {
    let status = pod.status.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| {
            let readiness = match c.status.as_str() {
                "True" => Readiness::Ready,
                "False" => Readiness::NotReady,
                _ => Readiness::Unknown,
            };
            (readiness, c.last_transition_time.as_ref().map(timestamp_of))
        });
    let requests = |r: Option<&k8s_openapi::api::core::v1::ResourceRequirements>| {
        r.and_then(|r| r.requests.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|(name, q)| {
                let milli = q.0.parse::<Quantity>().ok()?.milli_value();
                Some((name.clone(), milli))
            })
            .collect::<BTreeMap<String, i64>>()
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let containers = spec
        .containers
        .iter()
        .chain(sidecars)
        .map(|c| (c.name.clone(), requests(c.resources.as_ref())))
        .collect();
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: PodPhase::parse(status.phase.as_deref().unwrap_or_default()),
        ready,
        started: status.start_time.as_ref().map(timestamp_of),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        containers,
        pod_requests: requests(spec.resources.as_ref()),
    }
}

/// What every metric of one HPA shares.
struct Target {
    namespace: String,
    /// The pods' selector, or why there is none.
    selector: Result<Selector, String>,
    current: i32,
    status_replicas: i32,
    pods: Vec<PodInfo>,
    sync: Sync,
}

/// The metrics of an HPA whose spec has none, as the API server defaults them: 80 % average CPU
/// utilization.
pub fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: "Resource".into(),
        resource: Some(k8s_openapi::api::autoscaling::v2::ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(80),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }]
}

/// The error text of a failed read of the cluster.
fn cluster_error(e: &crate::kube::Error) -> String {
    match e {
        crate::kube::Error::Api(::kube::Error::Api(status)) if status.code == 403 => format!(
            "{} (the adapter's service account needs get on it)",
            status.message
        ),
        crate::kube::Error::Api(::kube::Error::Api(status)) => status.message.clone(),
        other => other.to_string(),
    }
}

/// A report for a metric that could not even be asked for.
fn unaskable(metric: &str, kind: &str, why: String) -> MetricReport {
    let mut report = MetricReport::new(metric, kind, "");
    report.reason = Some(why);
    report
}

impl Explainer {
    /// Explain the HPA `namespace/name` read from the cluster.
    pub async fn hpa_named(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Explanation, ExplainError> {
        let hpa = self
            .provider
            .cluster()
            .horizontal_pod_autoscaler(namespace, name)
            .await
            .map_err(|e| {
                let message = format!(
                    "cannot read the HorizontalPodAutoscaler {namespace}/{name}: {}",
                    cluster_error(&e)
                );
                match &e {
                    crate::kube::Error::Api(::kube::Error::Api(status)) if status.code == 404 => {
                        ExplainError::NotFound(message)
                    }
                    _ => ExplainError::Failed(message),
                }
            })?;
        Ok(self.hpa(&hpa).await)
    }

    /// The target's `spec.replicas`, `status.replicas` and pod selector.
    async fn scale_of(
        &self,
        namespace: &str,
        target: &CrossVersionObjectReference,
    ) -> Result<(i32, i32, Option<String>), String> {
        let api_version = target.api_version.clone().unwrap_or_default();
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        let cluster = self.provider.cluster();
        let info = cluster
            .resolve(&GroupResource::new(group, target.kind.clone()))
            .await
            .ok_or_else(|| {
                format!(
                    "the cluster serves no kind {} in {api_version:?}",
                    target.kind
                )
            })?;
        let scale = cluster
            .scale(&info, namespace, &target.name)
            .await
            .map_err(|e| {
                format!(
                    "cannot read the scale of {}/{}: {}",
                    target.kind,
                    target.name,
                    cluster_error(&e)
                )
            })?;
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let status = scale.status.unwrap_or_default();
        Ok((current, status.replicas, status.selector))
    }

    /// Explain an `autoscaling/v2` HPA: every metric of its spec, and the replica count the
    /// controller would compute now.
    pub async fn hpa(&self, hpa: &HorizontalPodAutoscaler) -> Explanation {
        let namespace = hpa
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let spec = hpa.spec.clone();
        let target_ref = &spec.scale_target_ref;
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        let tolerance = Tolerance::of(spec.behavior.as_ref(), replicas::DEFAULT_TOLERANCE);
        let behavior = spec
            .behavior
            .as_ref()
            .map(|b| Behavior::of(b, replicas::DOWNSCALE_STABILIZATION_SECONDS));
        let mut report = HpaReport {
            namespace: namespace.clone(),
            name: hpa.metadata.name.clone().unwrap_or_default(),
            scale_target: format!("{}/{}", target_ref.kind, target_ref.name),
            selector: None,
            pods: 0,
            ready_pods: 0,
            current_replicas: 0,
            min_replicas: min,
            max_replicas: max,
            tolerance: if tolerance.down == tolerance.up {
                tolerance.up.to_string()
            } else {
                format!("-{}/+{}", tolerance.down, tolerance.up)
            },
            metric_replicas: None,
            desired_replicas: 0,
            steps: Vec::new(),
            reason: None,
        };
        let mut target = Target {
            namespace: namespace.clone(),
            selector: Err("the target's pod selector is unknown".into()),
            current: 0,
            status_replicas: 0,
            pods: Vec::new(),
            sync: Sync::at(Timestamp::now(), tolerance),
        };
        match self.scale_of(&namespace, target_ref).await {
            Ok((current, status_replicas, selector)) => {
                target.current = current;
                target.status_replicas = status_replicas;
                report.current_replicas = current;
                report.selector = selector.clone();
                target.selector = match selector.as_deref() {
                    None | Some("") => Err(format!(
                        "the scale of {} has no selector: the controller needs one",
                        report.scale_target
                    )),
                    Some(text) => Selector::parse(text)
                        .map_err(|e| format!("the target's selector {text:?} is invalid: {e}")),
                };
                if let Some(text) = selector.as_deref().filter(|s| !s.is_empty()) {
                    match self.provider.cluster().pods(&namespace, text).await {
                        Ok(pods) => target.pods = pods.iter().map(pod_info).collect(),
                        Err(e) => {
                            report.steps.push(format!(
                                "the pods could not be listed ({}): replica counts that need them are not computed",
                                cluster_error(&e)
                            ));
                        }
                    }
                }
            }
            Err(e) => {
                target.selector = Err(e.clone());
                report.reason = Some(e);
            }
        }
        report.pods = target.pods.len();
        report.ready_pods = target
            .pods
            .iter()
            .filter(|p| {
                p.phase == PodPhase::Running && matches!(p.ready, Some((Readiness::Ready, _)))
            })
            .count();
        let specs = spec
            .metrics
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(default_metrics);
        let mut metrics = Vec::with_capacity(specs.len());
        for metric in &specs {
            metrics.push(self.hpa_metric(metric, &target).await);
        }
        self.decide(&mut report, &metrics, &target, behavior.as_ref());
        Explanation::new(Some(report), metrics)
    }

    /// What the controller does with the proposals.
    fn decide(
        &self,
        report: &mut HpaReport,
        metrics: &[MetricReport],
        target: &Target,
        behavior: Option<&Behavior>,
    ) {
        let (current, min, max) = (target.current, report.min_replicas, report.max_replicas);
        report.desired_replicas = current;
        if report.reason.is_some() {
            return;
        }
        if let Some(fixed) = replicas::before_metrics(current, min, max) {
            report.desired_replicas = fixed.replicas;
            report.steps.push(fixed.why);
            return;
        }
        let proposals: Vec<Option<i32>> = metrics.iter().map(|m| m.replicas).collect();
        let listed: Vec<String> = metrics
            .iter()
            .map(|m| match m.replicas {
                Some(n) => format!("{} {n}", m.metric),
                None => format!("{} <unknown>", m.metric),
            })
            .collect();
        match replicas::decide(&proposals, current) {
            Decision::Hold(why) => {
                report
                    .steps
                    .push(format!("metrics propose: {}", listed.join(", ")));
                report.reason = Some(why);
            }
            Decision::Scale(proposal) => {
                report.metric_replicas = Some(proposal);
                report.steps.push(format!(
                    "metrics propose: {} -> the largest, {proposal}",
                    listed.join(", ")
                ));
                let step = replicas::step(current, proposal, min, max, behavior);
                report.steps.extend(step.notes);
                report.desired_replicas = step.replicas;
            }
        }
    }

    /// One metric of an HPA: its request explained, and its proposal.
    async fn hpa_metric(&self, spec: &MetricSpec, target: &Target) -> MetricReport {
        let kind = spec.type_.as_str();
        match kind {
            "Pods" => self.hpa_pods(spec, target).await,
            "Object" => self.hpa_object(spec, target).await,
            "External" => self.hpa_external(spec, target).await,
            "Resource" | "ContainerResource" => self.hpa_resource(spec, target).await,
            other => unaskable(
                other,
                other,
                format!("{other:?} is not a metric type the controller knows"),
            ),
        }
    }

    async fn hpa_pods(&self, spec: &MetricSpec, target: &Target) -> MetricReport {
        let Some(source) = &spec.pods else {
            return unaskable(
                "",
                "Pods",
                "the metric has type Pods but no pods source".into(),
            );
        };
        let name = &source.metric.name;
        let selector = match (
            &target.selector,
            parse_selector(source.metric.selector.as_ref()),
        ) {
            (Ok(pods), Ok(metric)) => (pods.clone(), metric),
            (Err(e), _) => return unaskable(name, "Pods", e.clone()),
            (_, Err(e)) => return unaskable(name, "Pods", e),
        };
        let req = CustomRequest {
            namespace: Some(target.namespace.clone()),
            resource: "pods".into(),
            name: None,
            metric: name.clone(),
            label_selector: selector.0,
            metric_selector: selector.1,
        };
        let (mut report, values) = self.custom(&req, &custom_path(&req), "Pods", false).await;
        let goal = source.target.average_value.as_ref().map(milli);
        report.target = source
            .target
            .average_value
            .as_ref()
            .map(|q| format!("AverageValue {}", q.0));
        let (Some(values), Some(goal)) = (values, goal) else {
            if source.target.average_value.is_none() {
                report.calculation = Some("the target has no averageValue".into());
            }
            return report;
        };
        let goal = match goal {
            Ok(goal) => goal,
            Err(e) => return with_error(report, e),
        };
        if values.is_empty() {
            return report;
        }
        let per_pod: BTreeMap<String, PodValue> = values
            .iter()
            .filter_map(|v| {
                let milli = v.value.parse::<Quantity>().ok()?.milli_value();
                Some((
                    v.described_object.name.clone(),
                    PodValue {
                        milli,
                        timestamp: v.timestamp,
                        window: SignedDuration::from_mins(1),
                    },
                ))
            })
            .collect();
        let proposal =
            target
                .sync
                .average_value(target.current, goal, &per_pod, &target.pods, None);
        with_proposal(report, proposal)
    }

    async fn hpa_object(&self, spec: &MetricSpec, target: &Target) -> MetricReport {
        let Some(source) = &spec.object else {
            return unaskable(
                "",
                "Object",
                "the metric has type Object but no object source".into(),
            );
        };
        let name = &source.metric.name;
        let metric_selector = match parse_selector(source.metric.selector.as_ref()) {
            Ok(s) => s,
            Err(e) => return unaskable(name, "Object", e),
        };
        let object = &source.described_object;
        let api_version = object.api_version.clone().unwrap_or_default();
        let req = if object.kind == "Namespace" && !api_version.contains('/') {
            CustomRequest {
                namespace: None,
                resource: "namespaces".into(),
                name: Some(target.namespace.clone()),
                metric: name.clone(),
                label_selector: Selector::everything(),
                metric_selector,
            }
        } else {
            let group = api_version.split_once('/').map_or("", |(g, _)| g);
            let Some(info) = self
                .provider
                .cluster()
                .resolve(&GroupResource::new(group, object.kind.clone()))
                .await
            else {
                return unaskable(
                    name,
                    "Object",
                    format!(
                        "the cluster serves no kind {} in {api_version:?}: the controller cannot name the object's resource",
                        object.kind
                    ),
                );
            };
            CustomRequest {
                namespace: Some(target.namespace.clone()),
                resource: info.group_resource().to_string(),
                name: Some(object.name.clone()),
                metric: name.clone(),
                label_selector: Selector::everything(),
                metric_selector,
            }
        };
        let (mut report, values) = self.custom(&req, &custom_path(&req), "Object", true).await;
        let goal = match object_goal(&source.target) {
            Ok(goal) => goal,
            Err(e) => return with_error(report, e),
        };
        report.target = Some(goal.to_string());
        let per_pod = goal.per_pod;
        let goal = match milli(goal.quantity) {
            Ok(goal) => goal,
            Err(e) => return with_error(report, e),
        };
        let Some(value) = values.as_deref().and_then(|v| match v {
            [one] => one.value.parse::<Quantity>().ok().map(|q| q.milli_value()),
            _ => None,
        }) else {
            return report;
        };
        let proposal = target.sync.value_metric(
            per_pod,
            target.current,
            target.status_replicas,
            value,
            goal,
            &target.pods,
        );
        with_proposal(report, proposal)
    }

    async fn hpa_external(&self, spec: &MetricSpec, target: &Target) -> MetricReport {
        let Some(source) = &spec.external else {
            return unaskable(
                "",
                "External",
                "the metric has type External but no external source".into(),
            );
        };
        let name = &source.metric.name;
        let selector = match parse_selector(source.metric.selector.as_ref()) {
            Ok(s) => s,
            Err(e) => return unaskable(name, "External", e),
        };
        let req = ExternalRequest {
            namespace: target.namespace.clone(),
            metric: name.clone(),
            selector,
        };
        let (mut report, values) = self.external(&req, &external_path(&req), "External").await;
        let goal = match external_goal(&source.target) {
            Ok(goal) => goal,
            Err(e) => return with_error(report, e),
        };
        report.target = Some(goal.to_string());
        let goal_milli = match milli(goal.quantity) {
            Ok(g) => g,
            Err(e) => return with_error(report, e),
        };
        let Some(values) = values.filter(|v| !v.is_empty()) else {
            return report;
        };
        let milli: Vec<i64> = values
            .iter()
            .filter_map(|v| v.value.parse::<Quantity>().ok())
            .map(|q| q.milli_value())
            .collect();
        let sum = replicas::external_total(&milli);
        let proposal = target.sync.value_metric(
            goal.per_pod,
            target.current,
            target.status_replicas,
            sum,
            goal_milli,
            &target.pods,
        );
        with_proposal(report, proposal)
    }

    async fn hpa_resource(&self, spec: &MetricSpec, target: &Target) -> MetricReport {
        let kind = spec.type_.as_str();
        let (resource, container, t) = match (&spec.resource, &spec.container_resource) {
            (Some(r), _) if kind == "Resource" => (r.name.clone(), None, &r.target),
            (_, Some(c)) if kind == "ContainerResource" => {
                (c.name.clone(), Some(c.container.clone()), &c.target)
            }
            _ => {
                return unaskable(
                    "",
                    kind,
                    format!("the metric has type {kind} but no source"),
                );
            }
        };
        let only = match resource.as_str() {
            "cpu" => "cpu",
            "memory" => "memory",
            other => {
                return unaskable(
                    other,
                    kind,
                    format!("metrics.k8s.io serves cpu and memory, not {other}"),
                );
            }
        };
        let selector = match &target.selector {
            Ok(s) => s.clone(),
            Err(e) => return unaskable(&resource, kind, e.clone()),
        };
        let req = PodMetricsRequest {
            namespace: Some(target.namespace.clone()),
            name: None,
            label_selector: selector,
            field_selector: FieldSelector::default(),
        };
        let (reports, pods) = self.pods(&req, &pods_path(&req), kind, Some(only)).await;
        let mut report = reports
            .into_iter()
            .next()
            .unwrap_or_else(|| MetricReport::new(only, kind, &pods_path(&req)));
        if let Some(container) = &container {
            report.notes.push(format!("the container {container} only"));
        }
        let goal = resource_goal(t).and_then(|goal| {
            report.target = Some(goal.to_string());
            match goal {
                ResourceGoal::AverageValue(v) => milli(v).map(|m| (false, m)),
                ResourceGoal::Utilization(u) => Ok((true, i64::from(u))),
            }
        });
        let (utilization, goal) = match goal {
            Ok(goal) => goal,
            Err(e) => return with_error(report, e),
        };
        let Some(pods) = pods.filter(|p| !p.is_empty()) else {
            return report;
        };
        let mut per_pod = BTreeMap::new();
        for pod in &pods {
            let usage: Vec<(&str, Option<i64>)> = pod
                .containers
                .iter()
                .map(|c| {
                    let text = if only == "cpu" { &c.cpu } else { &c.memory };
                    let milli = text.parse::<Quantity>().ok().map(|q| q.milli_value());
                    (c.name.as_str(), milli)
                })
                .collect();
            let milli = match replicas::pod_usage(
                &pod.namespace,
                &pod.name,
                &usage,
                container.as_deref(),
            ) {
                Ok(milli) => milli,
                Err(e) => return with_error(report, e),
            };
            if let Some(milli) = milli {
                per_pod.insert(
                    pod.name.clone(),
                    PodValue {
                        milli,
                        timestamp: pod.timestamp,
                        window: SignedDuration::try_from(pod.window)
                            .unwrap_or(SignedDuration::from_mins(1)),
                    },
                );
            }
        }
        let proposal = if utilization {
            let percent = i32::try_from(goal).unwrap_or(i32::MAX);
            target.sync.utilization(
                target.current,
                percent,
                &resource,
                container.as_deref(),
                &per_pod,
                &target.pods,
            )
        } else {
            target.sync.average_value(
                target.current,
                goal,
                &per_pod,
                &target.pods,
                Some(&resource),
            )
        };
        with_proposal(report, proposal)
    }
}

/// The report with the controller's error about a metric it has values for.
fn with_error(mut report: MetricReport, error: String) -> MetricReport {
    if report.reason.is_none() {
        report.reason = Some(format!("the controller cannot use the values: {error}"));
    }
    report.calculation = Some(error);
    report
}

/// The report with a metric's proposal, or the controller's error.
fn with_proposal(mut report: MetricReport, proposal: Result<Proposal, String>) -> MetricReport {
    match proposal {
        Ok(p) => {
            report.replicas = Some(p.replicas);
            report.current = Some(match p.utilization {
                Some(u) => format!("{u}% ({} average)", quantity_text(p.current_milli)),
                None => quantity_text(p.current_milli),
            });
            report.calculation = Some(format!("{} -> {} replicas", p.detail, p.replicas));
            report
        }
        Err(e) => with_error(report, e),
    }
}

#[cfg(test)]
mod tests;
