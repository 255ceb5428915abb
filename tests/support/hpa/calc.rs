//! The replica arithmetic of the HPA controller (kubernetes `pkg/controller/podautoscaler/
//! replica_calculator.go` and `metrics/utilization.go`), pure: metric values in milli-units,
//! pod states and the current time go in, a replica proposal comes out.
//!
//! Each function mirrors one Go function and keeps its quirks: averages use integer division,
//! utilization is truncated to a whole percent before the ratio, the tolerance band is inclusive,
//! and only CPU metrics look at pod readiness.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

/// The controller's tolerance band: no change while `1 - scale_down <= ratio <= 1 + scale_up`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Allowed relative shortfall before scaling down (default 0.1).
    pub scale_down: f64,
    /// Allowed relative excess before scaling up (default 0.1).
    pub scale_up: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            scale_down: 0.1,
            scale_up: 0.1,
        }
    }
}

impl Tolerances {
    /// Whether `ratio` is close enough to 1 to keep the current count (`Tolerances.isWithin`).
    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// `status.phase` of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Not all containers started yet: counted as unready.
    Pending,
    /// Running.
    Running,
    /// All containers exited successfully (counted like a running pod, as Go does).
    Succeeded,
    /// Failed: ignored together with its metrics.
    Failed,
    /// Missing or unknown phase.
    Unknown,
}

impl PodPhase {
    /// The phase from its API string (`""` and anything unknown are `Unknown`).
    pub fn from_api(phase: &str) -> PodPhase {
        match phase {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }
}

/// Status of a pod condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `"True"`.
    True,
    /// `"False"`.
    False,
    /// `"Unknown"` or anything else.
    Unknown,
}

/// The pod's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyCondition {
    /// Whether the pod is ready.
    pub status: ConditionStatus,
    /// `lastTransitionTime` (Go's zero time, approximated by `Timestamp::MIN`, when absent).
    pub last_transition: Timestamp,
}

/// Requests of one container (or of the pod, for pod-level resources), in milli-units by
/// resource name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRequests {
    /// Container name.
    pub name: String,
    /// `resources.requests`, each as `MilliValue()`.
    pub requests: BTreeMap<String, i64>,
}

/// What the replica calculator needs to know about one pod matching the scale selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    /// `metadata.name`, the key metrics are matched on.
    pub name: String,
    /// `status.phase`.
    pub phase: PodPhase,
    /// The `Ready` condition, if the pod has one.
    pub ready: Option<ReadyCondition>,
    /// `status.startTime`.
    pub start_time: Option<Timestamp>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Regular containers and restartable (sidecar) init containers.
    pub containers: Vec<ContainerRequests>,
    /// Pod-level `spec.resources.requests`, used instead of the containers' when set.
    pub pod_requests: BTreeMap<String, i64>,
}

impl PodState {
    /// A running, ready pod started at `start`, without requests.
    pub fn running(name: &str, start: Timestamp) -> PodState {
        PodState {
            name: name.to_owned(),
            phase: PodPhase::Running,
            ready: Some(ReadyCondition {
                status: ConditionStatus::True,
                last_transition: start,
            }),
            start_time: Some(start),
            deleting: false,
            containers: Vec::new(),
            pod_requests: BTreeMap::new(),
        }
    }

    /// The same pod with one container requesting `milli` of `resource`.
    pub fn with_request(mut self, container: &str, resource: &str, milli: i64) -> PodState {
        match self.containers.iter_mut().find(|c| c.name == container) {
            Some(c) => {
                c.requests.insert(resource.to_owned(), milli);
            }
            None => self.containers.push(ContainerRequests {
                name: container.to_owned(),
                requests: BTreeMap::from([(resource.to_owned(), milli)]),
            }),
        }
        self
    }

    /// The same pod with its Ready condition set to `status` at `since`.
    pub fn with_ready(mut self, status: ConditionStatus, since: Timestamp) -> PodState {
        self.ready = Some(ReadyCondition {
            status,
            last_transition: since,
        });
        self
    }

    /// The same pod in `phase`.
    pub fn with_phase(mut self, phase: PodPhase) -> PodState {
        self.phase = phase;
        self
    }

    /// The same pod, being deleted.
    pub fn deleting(mut self) -> PodState {
        self.deleting = true;
        self
    }

    /// `podutil.IsPodReady`: the Ready condition is True.
    pub fn is_ready(&self) -> bool {
        self.ready
            .is_some_and(|c| c.status == ConditionStatus::True)
    }
}

/// One pod's metric as the controller keeps it (`metricsclient.PodMetric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMetric {
    /// `MilliValue()` of the reported quantity (summed over containers for resource metrics).
    pub value: i64,
    /// The sample's `timestamp`.
    pub timestamp: Timestamp,
    /// The sample's window (`windowSeconds`, default one minute, for custom metrics).
    pub window: SignedDuration,
}

impl PodMetric {
    /// A value with the Unix epoch as timestamp and a one-minute window (for tests that do not
    /// look at readiness).
    pub fn value(value: i64) -> PodMetric {
        PodMetric {
            value,
            timestamp: Timestamp::UNIX_EPOCH,
            window: SignedDuration::from_mins(1),
        }
    }
}

/// Metrics by pod name (`metricsclient.PodMetricsInfo`).
pub type PodMetrics = BTreeMap<String, PodMetric>;

/// Pods sorted by how their metrics count (`groupPods`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodGroups {
    /// Pods whose metrics count as they are.
    pub ready_count: usize,
    /// Pending pods, and CPU pods still initializing or never ready.
    pub unready: BTreeSet<String>,
    /// Pods without a metric.
    pub missing: BTreeSet<String>,
    /// Pods being deleted or failed.
    pub ignored: BTreeSet<String>,
}

/// One metric's replica proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// The proposed replica count.
    pub replicas: i32,
    /// The current value the controller reports in the HPA status, in milli-units (average per
    /// pod, object value, external sum, or per-pod share for AverageValue targets).
    pub usage: i64,
    /// The current utilization in percent, for Utilization targets.
    pub utilization: Option<i32>,
}

/// Why no proposal could be computed (the controller's error text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CalcError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, CalcError> {
    Err(CalcError(message.into()))
}

/// Go's `int32(math.Ceil(x))`, saturating (Go's conversion of out-of-range floats is undefined).
pub fn ceil_i32(x: f64) -> i32 {
    x.ceil() as i32
}

/// `t + d`, saturating at the ends of time.
fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_add(d).unwrap_or(t)
}

/// The replica calculator with the controller's settings and the time of the sync.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaCalculator {
    /// Tolerance band (`--horizontal-pod-autoscaler-tolerance`, or the HPA's own).
    pub tolerances: Tolerances,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 m).
    pub cpu_initialization_period: SignedDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay: SignedDuration,
    /// The controller's `time.Now()` during this sync.
    pub now: Timestamp,
}

impl ReplicaCalculator {
    /// The controller's defaults at time `now`.
    pub fn at(now: Timestamp) -> ReplicaCalculator {
        ReplicaCalculator {
            tolerances: Tolerances::default(),
            cpu_initialization_period: SignedDuration::from_mins(5),
            initial_readiness_delay: SignedDuration::from_secs(30),
            now,
        }
    }

    /// `groupPods`: sort pods into ready, unready, missing and ignored. `resource` is the
    /// resource name for Resource metrics (`None` for custom metrics); only `cpu` checks
    /// readiness.
    pub fn group_pods(
        &self,
        pods: &[PodState],
        metrics: &PodMetrics,
        resource: Option<&str>,
    ) -> PodGroups {
        let mut groups = PodGroups::default();
        for pod in pods {
            if pod.deleting || pod.phase == PodPhase::Failed {
                groups.ignored.insert(pod.name.clone());
                continue;
            }
            if pod.phase == PodPhase::Pending {
                groups.unready.insert(pod.name.clone());
                continue;
            }
            let Some(metric) = metrics.get(&pod.name) else {
                groups.missing.insert(pod.name.clone());
                continue;
            };
            if resource == Some("cpu") {
                let unready = match (pod.ready, pod.start_time) {
                    (Some(ready), Some(start)) => {
                        if add(start, self.cpu_initialization_period) > self.now {
                            // Still initializing: the sample must cover a whole window after
                            // the last readiness change.
                            ready.status == ConditionStatus::False
                                || metric.timestamp < add(ready.last_transition, metric.window)
                        } else {
                            // Unready and never became ready since starting.
                            ready.status == ConditionStatus::False
                                && add(start, self.initial_readiness_delay) > ready.last_transition
                        }
                    }
                    _ => true,
                };
                if unready {
                    groups.unready.insert(pod.name.clone());
                    continue;
                }
            }
            groups.ready_count += 1;
        }
        groups
    }

    /// `GetMetricReplicas` (Pods metric, AverageValue target): `calcPlainMetricReplicas` without
    /// a resource.
    pub fn replicas_for_pods_metric(
        &self,
        current_replicas: i32,
        target: i64,
        metrics: PodMetrics,
        pods: &[PodState],
    ) -> Result<Proposal, CalcError> {
        self.plain_metric_replicas(current_replicas, target, metrics, pods, None)
    }

    /// `GetRawResourceReplicas` (Resource metric, AverageValue target).
    pub fn replicas_for_resource_average_value(
        &self,
        current_replicas: i32,
        target: i64,
        resource: &str,
        metrics: PodMetrics,
        pods: &[PodState],
    ) -> Result<Proposal, CalcError> {
        self.plain_metric_replicas(current_replicas, target, metrics, pods, Some(resource))
    }

    /// `calcPlainMetricReplicas`.
    fn plain_metric_replicas(
        &self,
        current_replicas: i32,
        target: i64,
        mut metrics: PodMetrics,
        pods: &[PodState],
        resource: Option<&str>,
    ) -> Result<Proposal, CalcError> {
        if pods.is_empty() {
            return err("no pods returned by selector while calculating replica count");
        }
        let groups = self.group_pods(pods, &metrics, resource);
        metrics.retain(|name, _| !groups.ignored.contains(name) && !groups.unready.contains(name));
        if metrics.is_empty() {
            return err("did not receive metrics for targeted pods (pods might be unready)");
        }
        let (ratio, usage) = usage_ratio(&metrics, target);
        let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
        let proposal = |replicas| Proposal {
            replicas,
            usage,
            utilization: None,
        };
        if !scale_up_with_unready && groups.missing.is_empty() {
            if self.tolerances.is_within(ratio) {
                return Ok(proposal(current_replicas));
            }
            return Ok(proposal(ceil_i32(ratio * groups.ready_count as f64)));
        }
        if !groups.missing.is_empty() {
            // Scale-down: missing pods are assumed at exactly the target; otherwise (including a
            // ratio of exactly 1, as Go's plain `else` does) at zero.
            let assumed = if ratio < 1.0 { target } else { 0 };
            for name in &groups.missing {
                metrics.insert(name.clone(), PodMetric::value(assumed));
            }
        }
        if scale_up_with_unready {
            for name in &groups.unready {
                metrics.insert(name.clone(), PodMetric::value(0));
            }
        }
        let (new_ratio, _) = usage_ratio(&metrics, target);
        Ok(proposal(rebalanced(
            self.tolerances,
            current_replicas,
            ratio,
            new_ratio,
            metrics.len(),
        )))
    }

    /// `GetResourceReplicas` (Resource or ContainerResource metric, Utilization target).
    /// `container` is the container of a ContainerResource metric.
    pub fn replicas_for_resource_utilization(
        &self,
        current_replicas: i32,
        target_utilization: i32,
        resource: &str,
        container: Option<&str>,
        mut metrics: PodMetrics,
        pods: &[PodState],
    ) -> Result<Proposal, CalcError> {
        if pods.is_empty() {
            return err("no pods returned by selector while calculating replica count");
        }
        let groups = self.group_pods(pods, &metrics, Some(resource));
        metrics.retain(|name, _| !groups.ignored.contains(name) && !groups.unready.contains(name));
        if metrics.is_empty() {
            return err("did not receive metrics for targeted pods (pods might be unready)");
        }
        let requests = requests_by_pod(pods, container, resource)?;
        let (ratio, utilization, raw) = utilization_ratio(&metrics, &requests, target_utilization)?;
        let proposal = |replicas| Proposal {
            replicas,
            usage: raw,
            utilization: Some(utilization),
        };
        let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if self.tolerances.is_within(ratio) {
                return Ok(proposal(current_replicas));
            }
            return Ok(proposal(ceil_i32(ratio * groups.ready_count as f64)));
        }
        if !groups.missing.is_empty() {
            if ratio < 1.0 {
                // Scale-down: missing pods use 100% of their request, or the target if higher.
                let fallback = i64::from(target_utilization.max(100));
                for name in &groups.missing {
                    let request = requests.get(name).copied().unwrap_or(0);
                    metrics.insert(name.clone(), PodMetric::value(request * fallback / 100));
                }
            } else if ratio > 1.0 {
                for name in &groups.missing {
                    metrics.insert(name.clone(), PodMetric::value(0));
                }
            }
        }
        if scale_up_with_unready {
            for name in &groups.unready {
                metrics.insert(name.clone(), PodMetric::value(0));
            }
        }
        let (new_ratio, _, _) = utilization_ratio(&metrics, &requests, target_utilization)?;
        Ok(proposal(rebalanced(
            self.tolerances,
            current_replicas,
            ratio,
            new_ratio,
            metrics.len(),
        )))
    }

    /// `GetObjectMetricReplicas` (Object metric, Value target): `usage` is the object's value.
    pub fn replicas_for_object_value(
        &self,
        current_replicas: i32,
        usage: i64,
        target: i64,
        pods: &[PodState],
    ) -> Result<Proposal, CalcError> {
        let ratio = usage as f64 / target as f64;
        let replicas = self.usage_ratio_replica_count(current_replicas, ratio, pods)?;
        Ok(Proposal {
            replicas,
            usage,
            utilization: None,
        })
    }

    /// `GetObjectPerPodMetricReplicas` (Object metric, AverageValue target); uses the scale's
    /// `status.replicas`.
    pub fn replicas_for_object_average_value(
        &self,
        status_replicas: i32,
        usage: i64,
        target_average: i64,
    ) -> Proposal {
        let mut replicas = status_replicas;
        let ratio = usage as f64 / (target_average as f64 * f64::from(status_replicas));
        if !self.tolerances.is_within(ratio) {
            replicas = ceil_i32(usage as f64 / target_average as f64);
        }
        Proposal {
            replicas,
            usage: (usage as f64 / f64::from(status_replicas)).ceil() as i64,
            utilization: None,
        }
    }

    /// `GetExternalMetricReplicas` (External metric, Value target): the values are summed.
    pub fn replicas_for_external_value(
        &self,
        current_replicas: i32,
        values: &[i64],
        target: i64,
        pods: &[PodState],
    ) -> Result<Proposal, CalcError> {
        let usage = values.iter().fold(0_i64, |a, v| a.wrapping_add(*v));
        self.replicas_for_object_value(current_replicas, usage, target, pods)
    }

    /// `GetExternalPerPodMetricReplicas` (External metric, AverageValue target).
    pub fn replicas_for_external_average_value(
        &self,
        status_replicas: i32,
        values: &[i64],
        target_average: i64,
    ) -> Proposal {
        let usage = values.iter().fold(0_i64, |a, v| a.wrapping_add(*v));
        self.replicas_for_object_average_value(status_replicas, usage, target_average)
    }

    /// `getUsageRatioReplicaCount`: keep within tolerance, else `ceil(ratio × ready pods)`;
    /// from zero replicas, `ceil(ratio)` without tolerance.
    fn usage_ratio_replica_count(
        &self,
        current_replicas: i32,
        ratio: f64,
        pods: &[PodState],
    ) -> Result<i32, CalcError> {
        if current_replicas == 0 {
            return Ok(ceil_i32(ratio));
        }
        if self.tolerances.is_within(ratio) {
            return Ok(current_replicas);
        }
        if pods.is_empty() {
            return err(
                "unable to calculate ready pods: no pods returned by selector while calculating replica count",
            );
        }
        let ready = pods
            .iter()
            .filter(|p| p.phase == PodPhase::Running && p.is_ready())
            .count();
        Ok(ceil_i32(ratio * ready as f64))
    }
}

/// The end of `calcPlainMetricReplicas`/`GetResourceReplicas` once missing and unready pods
/// have assumed values: keep the current count within tolerance or when the direction flips,
/// else `ceil(new ratio × pods counted)` unless that moves the other way.
fn rebalanced(
    tolerances: Tolerances,
    current_replicas: i32,
    ratio: f64,
    new_ratio: f64,
    counted: usize,
) -> i32 {
    if tolerances.is_within(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return current_replicas;
    }
    let replicas = ceil_i32(new_ratio * counted as f64);
    if (new_ratio < 1.0 && replicas > current_replicas)
        || (new_ratio > 1.0 && replicas < current_replicas)
    {
        return current_replicas;
    }
    replicas
}

/// `GetMetricUsageRatio`: the integer average of all values over the target.
pub fn usage_ratio(metrics: &PodMetrics, target: i64) -> (f64, i64) {
    let total = metrics.values().fold(0_i64, |a, m| a.wrapping_add(m.value));
    let usage = total / metrics.len().max(1) as i64;
    (usage as f64 / target as f64, usage)
}

/// `GetResourceUtilizationRatio`: `(ratio, utilization %, raw average)`, counting only pods with
/// a request; utilization is truncated to a whole percent before the ratio is taken.
pub fn utilization_ratio(
    metrics: &PodMetrics,
    requests: &BTreeMap<String, i64>,
    target_utilization: i32,
) -> Result<(f64, i32, i64), CalcError> {
    let (mut metrics_total, mut requests_total, mut entries) = (0_i64, 0_i64, 0_i64);
    for (name, metric) in metrics {
        let Some(request) = requests.get(name) else {
            continue;
        };
        metrics_total += metric.value;
        requests_total += request;
        entries += 1;
    }
    if requests_total == 0 {
        return err("no metrics returned matched known pods");
    }
    let utilization = (metrics_total * 100 / requests_total) as i32;
    Ok((
        f64::from(utilization) / f64::from(target_utilization),
        utilization,
        metrics_total / entries,
    ))
}

/// `calculateRequests`: each pod's request for `resource` (pod-level if set and no container
/// is named, else the sum over its containers, or the named container's); an error if a
/// counted container has no request.
pub fn requests_by_pod(
    pods: &[PodState],
    container: Option<&str>,
    resource: &str,
) -> Result<BTreeMap<String, i64>, CalcError> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        if container.is_none()
            && let Some(request) = pod.pod_requests.get(resource)
        {
            requests.insert(pod.name.clone(), *request);
            continue;
        }
        let mut sum = 0;
        for c in &pod.containers {
            if container.is_none_or(|name| name == c.name) {
                match c.requests.get(resource) {
                    Some(request) => sum += request,
                    None => {
                        return err(format!(
                            "missing request for {resource} in container {} of Pod {}",
                            c.name, pod.name
                        ));
                    }
                }
            }
        }
        requests.insert(pod.name.clone(), sum);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests;
