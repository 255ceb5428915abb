//! The HPA controller's arithmetic for one sync (kube-controller-manager's
//! `pkg/controller/podautoscaler`): each metric's replica proposal from the values it read, the
//! largest proposal, and the bounds of the current step (min/max replicas, the scale-up limit of
//! HPAs without `behavior`, the behaviour's rate-limiting policies).
//!
//! Pure: values in milli-units, pod states and the time of the sync go in; numbers and the
//! sentences that say how they came about come out. Unlike the controller, nothing is
//! remembered between syncs: the recommendations and scale events of earlier steps belong to the
//! caller. [`limit_with_behavior`] takes the replica count at the start of each policy's period
//! from it (the tests' HPA simulator keeps the controller's history); [`step`], for one look at
//! an HPA, limits as if nothing was scaled in the periods and names the stabilization windows
//! instead of applying them.
//!
//! Where Go's arithmetic differs from Rust's, Go's is kept: int64 sums and products wrap, and a
//! percentage is cut to an int32.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};

use crate::quantity::Quantity;

/// The cluster-wide tolerance (`--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;

/// The controller's downscale stabilization (`--horizontal-pod-autoscaler-downscale-stabilization`).
pub const DOWNSCALE_STABILIZATION_SECONDS: i32 = 300;

/// How far a ratio may stray from 1 before the controller changes the replica count, per
/// direction: no change while `1 - down <= ratio <= 1 + up`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Below 1.
    pub down: f64,
    /// Above 1.
    pub up: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            down: DEFAULT_TOLERANCE,
            up: DEFAULT_TOLERANCE,
        }
    }
}

impl Tolerance {
    /// The HPA's own `behavior.scaleUp/scaleDown.tolerance` where set, else the controller's
    /// `default` (`--horizontal-pod-autoscaler-tolerance`, [`DEFAULT_TOLERANCE`] unless changed).
    pub fn of(behavior: Option<&HorizontalPodAutoscalerBehavior>, default: f64) -> Tolerance {
        let own = |rules: Option<&HPAScalingRules>| {
            rules
                .and_then(|r| r.tolerance.as_ref())
                .and_then(|q| q.0.parse::<Quantity>().ok())
                .map_or(default, |q| q.as_f64())
        };
        Tolerance {
            down: own(behavior.and_then(|b| b.scale_down.as_ref())),
            up: own(behavior.and_then(|b| b.scale_up.as_ref())),
        }
    }

    /// Whether `ratio` is close enough to 1 to keep the current count (bounds included).
    pub fn within(&self, ratio: f64) -> bool {
        1.0 - self.down <= ratio && ratio <= 1.0 + self.up
    }

    fn describe(&self) -> String {
        if self.down == self.up {
            format!("{}", self.up)
        } else {
            format!("-{}/+{}", self.down, self.up)
        }
    }
}

/// `status.phase` of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Not started yet.
    Pending,
    /// Running.
    Running,
    /// Ended successfully.
    Succeeded,
    /// Ended in failure.
    Failed,
    /// Anything else.
    Unknown,
}

impl PodPhase {
    /// From the API's text.
    pub fn parse(text: &str) -> PodPhase {
        match text {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }
}

/// The status of a pod's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `True`.
    Ready,
    /// `False`.
    NotReady,
    /// `Unknown` or anything else.
    Unknown,
}

/// What the controller reads of one pod its target selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// The name metrics are matched on.
    pub name: String,
    /// `status.phase`.
    pub phase: PodPhase,
    /// The `Ready` condition and when it last changed, if the pod has one.
    pub ready: Option<(Readiness, Option<Timestamp>)>,
    /// `status.startTime`.
    pub started: Option<Timestamp>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Per container (restartable init containers included): its requests in milli-units.
    pub containers: Vec<(String, BTreeMap<String, i64>)>,
    /// Pod-level `spec.resources.requests`, which take precedence when set.
    pub pod_requests: BTreeMap<String, i64>,
}

impl PodInfo {
    fn is_ready(&self) -> bool {
        matches!(self.ready, Some((Readiness::Ready, _)))
    }
}

/// One pod's value of a metric as the controller keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodValue {
    /// Milli-units.
    pub milli: i64,
    /// When it was measured.
    pub timestamp: Timestamp,
    /// The window it covers (a minute when the API gives none).
    pub window: SignedDuration,
}

/// A metric's replica proposal, with the current value the HPA's status would show.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The proposed replica count.
    pub replicas: i32,
    /// The current value in milli-units (average per pod, object value, external sum, or per-pod
    /// share for `AverageValue` targets of Object and External metrics).
    pub current_milli: i64,
    /// The current utilization in percent, for `Utilization` targets.
    pub utilization: Option<i32>,
    /// How the proposal came about.
    pub detail: String,
}

/// The settings and the time of one sync.
#[derive(Debug, Clone, Copy)]
pub struct Sync {
    /// The tolerance band.
    pub tolerance: Tolerance,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 m).
    pub cpu_initialization_period: SignedDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay: SignedDuration,
    /// The time of the sync.
    pub now: Timestamp,
}

impl Sync {
    /// The controller's defaults, with this tolerance, at `now`.
    pub fn at(now: Timestamp, tolerance: Tolerance) -> Sync {
        Sync {
            tolerance,
            cpu_initialization_period: SignedDuration::from_mins(5),
            initial_readiness_delay: SignedDuration::from_secs(30),
            now,
        }
    }
}

/// How the pods of a Pods or Resource metric count.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counted {
    /// Pods whose value counts as it is.
    ready: usize,
    /// Pending pods, and (for cpu) pods still starting.
    unready: BTreeSet<String>,
    /// Pods without a value.
    missing: BTreeSet<String>,
    /// Failed pods and pods being deleted.
    ignored: BTreeSet<String>,
}

/// `t + d`, saturating.
fn later(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_add(d).unwrap_or(t)
}

/// `ceil(x)` as a replica count, saturating (Go's `int32(math.Ceil(x))` is undefined out of range).
fn ceil_replicas(x: f64) -> i32 {
    x.ceil() as i32
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A milli-unit value as a decimal (`4333m` → `4.333`).
pub fn decimal(milli: i64) -> String {
    let text = format!("{:.3}", milli as f64 / 1000.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Sync {
    /// Sort the pods: ignored (deleted, failed), unready (pending; for cpu, still starting),
    /// missing (no value), the rest counted.
    fn count(&self, pods: &[PodInfo], values: &BTreeMap<String, PodValue>, cpu: bool) -> Counted {
        let mut counted = Counted::default();
        for pod in pods {
            if pod.deleting || pod.phase == PodPhase::Failed {
                counted.ignored.insert(pod.name.clone());
                continue;
            }
            if pod.phase == PodPhase::Pending {
                counted.unready.insert(pod.name.clone());
                continue;
            }
            let Some(value) = values.get(&pod.name) else {
                counted.missing.insert(pod.name.clone());
                continue;
            };
            if cpu && self.cpu_unready(pod, value) {
                counted.unready.insert(pod.name.clone());
                continue;
            }
            counted.ready += 1;
        }
        counted
    }

    /// Whether a pod's cpu value must not count yet: within the initialization period, when it
    /// is not ready or its value does not cover a whole window since it became ready; after it,
    /// when it is not ready and never was since starting.
    fn cpu_unready(&self, pod: &PodInfo, value: &PodValue) -> bool {
        let (Some((readiness, since)), Some(started)) = (pod.ready, pod.started) else {
            return true;
        };
        let since = since.unwrap_or(Timestamp::MIN);
        if later(started, self.cpu_initialization_period) > self.now {
            readiness == Readiness::NotReady || value.timestamp < later(since, value.window)
        } else {
            readiness == Readiness::NotReady && since < later(started, self.initial_readiness_delay)
        }
    }

    /// A Pods metric (`AverageValue`), or a Resource metric with an `AverageValue` target:
    /// the average over the pods with a value against the target.
    pub fn average_value(
        &self,
        current: i32,
        target_milli: i64,
        values: &BTreeMap<String, PodValue>,
        pods: &[PodInfo],
        resource: Option<&str>,
    ) -> Result<Proposal, String> {
        if pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        if target_milli == 0 {
            return Err("the target is 0".into());
        }
        let counted = self.count(pods, values, resource == Some("cpu"));
        let mut kept = values.clone();
        kept.retain(|name, _| !counted.ignored.contains(name) && !counted.unready.contains(name));
        if kept.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        // `GetMetricUsageRatio`: an int64 sum, which wraps as Go's does, divided as integers.
        let average = |values: &BTreeMap<String, PodValue>| {
            let total = values.values().fold(0_i64, |a, v| a.wrapping_add(v.milli));
            total.wrapping_div(values.len().max(1) as i64)
        };
        let usage = average(&kept);
        let ratio = usage as f64 / target_milli as f64;
        let mut detail = format!(
            "average {} over {} / target {} = ratio {ratio:.3}",
            decimal(usage),
            plural(kept.len(), "pod", "pods"),
            decimal(target_milli),
        );
        let proposal = |replicas, detail| Proposal {
            replicas,
            current_milli: usage,
            utilization: None,
            detail,
        };
        let scale_up_with_unready = !counted.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && counted.missing.is_empty() {
            if self.tolerance.within(ratio) {
                detail += &format!(
                    ", within tolerance {}: keep {current}",
                    self.tolerance.describe()
                );
                return Ok(proposal(current, detail));
            }
            let replicas = ceil_replicas(ratio * counted.ready as f64);
            detail += &format!(": ceil({ratio:.3} × {} ready) = {replicas}", counted.ready);
            return Ok(proposal(replicas, detail));
        }
        if !counted.missing.is_empty() {
            // Scaling down, a pod without a value is taken to be at the target; otherwise at 0.
            let assumed = if ratio < 1.0 { target_milli } else { 0 };
            detail += &format!(
                "; {} without a value taken as {}",
                plural(counted.missing.len(), "pod", "pods"),
                decimal(assumed)
            );
            self.assume(&mut kept, &counted.missing, |_| assumed);
        }
        if scale_up_with_unready {
            detail += &format!(
                "; {} not ready taken as 0",
                plural(counted.unready.len(), "pod", "pods")
            );
            self.assume(&mut kept, &counted.unready, |_| 0);
        }
        let new_ratio = average(&kept) as f64 / target_milli as f64;
        let (replicas, how) = self.rebalance(current, ratio, new_ratio, kept.len());
        detail += &format!(": new ratio {new_ratio:.3}, {how}");
        Ok(proposal(replicas, detail))
    }

    /// Give each of `names` the value `milli` assumes for it, as measured now: how the
    /// controller counts pods without a value, or not ready, before it takes the ratio again.
    fn assume(
        &self,
        kept: &mut BTreeMap<String, PodValue>,
        names: &BTreeSet<String>,
        milli: impl Fn(&String) -> i64,
    ) {
        for name in names {
            let value = PodValue {
                milli: milli(name),
                timestamp: self.now,
                window: SignedDuration::ZERO,
            };
            kept.insert(name.clone(), value);
        }
    }

    /// The end of a Pods or Resource metric once pods without a value or not ready were given
    /// one: keep the count within tolerance or when the direction flipped, else scale on the new
    /// ratio unless that moves the other way.
    fn rebalance(&self, current: i32, ratio: f64, new_ratio: f64, pods: usize) -> (i32, String) {
        if self.tolerance.within(new_ratio) {
            return (
                current,
                format!(
                    "within tolerance {}: keep {current}",
                    self.tolerance.describe()
                ),
            );
        }
        if (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
            return (current, format!("the direction flips: keep {current}"));
        }
        let replicas = ceil_replicas(new_ratio * pods as f64);
        if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
            return (
                current,
                format!(
                    "ceil({new_ratio:.3} × {pods}) = {replicas} moves the other way: keep {current}"
                ),
            );
        }
        (
            replicas,
            format!("ceil({new_ratio:.3} × {pods}) = {replicas}"),
        )
    }

    /// A Resource or ContainerResource metric with a `Utilization` target: usage against the
    /// pods' requests.
    pub fn utilization(
        &self,
        current: i32,
        target_percent: i32,
        resource: &str,
        container: Option<&str>,
        values: &BTreeMap<String, PodValue>,
        pods: &[PodInfo],
    ) -> Result<Proposal, String> {
        if pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        if target_percent <= 0 {
            return Err("the target utilization is not positive".into());
        }
        let counted = self.count(pods, values, resource == "cpu");
        let mut kept = values.clone();
        kept.retain(|name, _| !counted.ignored.contains(name) && !counted.unready.contains(name));
        if kept.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let requests = requests_of(pods, resource, container)?;
        let (utilization, usage) = utilization_of(&kept, &requests)?;
        let ratio = f64::from(utilization) / f64::from(target_percent);
        let mut detail = format!(
            "utilization {utilization}% of the requests (average {}) / target {target_percent}% = ratio {ratio:.3}",
            decimal(usage)
        );
        let proposal = |replicas, detail| Proposal {
            replicas,
            current_milli: usage,
            utilization: Some(utilization),
            detail,
        };
        let scale_up_with_unready = !counted.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && counted.missing.is_empty() {
            if self.tolerance.within(ratio) {
                detail += &format!(
                    ", within tolerance {}: keep {current}",
                    self.tolerance.describe()
                );
                return Ok(proposal(current, detail));
            }
            let replicas = ceil_replicas(ratio * counted.ready as f64);
            detail += &format!(": ceil({ratio:.3} × {} ready) = {replicas}", counted.ready);
            return Ok(proposal(replicas, detail));
        }
        if !counted.missing.is_empty() {
            // Scaling down, a pod without a value is taken to use its request (or the target,
            // when higher); scaling up, nothing.
            let percent = i64::from(target_percent.max(100));
            let fill = |name: &String| {
                if ratio < 1.0 {
                    requests
                        .get(name)
                        .copied()
                        .unwrap_or(0)
                        .wrapping_mul(percent)
                        / 100
                } else {
                    0
                }
            };
            if ratio != 1.0 {
                detail += &format!(
                    "; {} without a value taken as {}",
                    plural(counted.missing.len(), "pod", "pods"),
                    if ratio < 1.0 {
                        format!("{percent}% of their request")
                    } else {
                        "0".to_string()
                    }
                );
                self.assume(&mut kept, &counted.missing, fill);
            }
        }
        if scale_up_with_unready {
            detail += &format!(
                "; {} not ready taken as 0",
                plural(counted.unready.len(), "pod", "pods")
            );
            self.assume(&mut kept, &counted.unready, |_| 0);
        }
        let (new_utilization, _) = utilization_of(&kept, &requests)?;
        let new_ratio = f64::from(new_utilization) / f64::from(target_percent);
        let (replicas, how) = self.rebalance(current, ratio, new_ratio, kept.len());
        detail += &format!(": new ratio {new_ratio:.3}, {how}");
        Ok(proposal(replicas, detail))
    }

    /// An Object metric with a `Value` target, or an External metric's sum: the value against
    /// the target, times the ready pods.
    pub fn value(
        &self,
        current: i32,
        value_milli: i64,
        target_milli: i64,
        pods: &[PodInfo],
    ) -> Result<Proposal, String> {
        if target_milli == 0 {
            return Err("the target is 0".into());
        }
        let ratio = value_milli as f64 / target_milli as f64;
        let mut detail = format!(
            "value {} / target {} = ratio {ratio:.3}",
            decimal(value_milli),
            decimal(target_milli)
        );
        let replicas = if current == 0 {
            let replicas = ceil_replicas(ratio);
            detail += &format!(": from 0 replicas, ceil({ratio:.3}) = {replicas}");
            replicas
        } else if self.tolerance.within(ratio) {
            detail += &format!(
                ", within tolerance {}: keep {current}",
                self.tolerance.describe()
            );
            current
        } else {
            if pods.is_empty() {
                return Err("unable to calculate ready pods: no pods returned by selector while calculating replica count".into());
            }
            let ready = pods
                .iter()
                .filter(|p| p.phase == PodPhase::Running && p.is_ready())
                .count();
            let replicas = ceil_replicas(ratio * ready as f64);
            detail += &format!(": ceil({ratio:.3} × {ready} ready) = {replicas}");
            replicas
        };
        Ok(Proposal {
            replicas,
            current_milli: value_milli,
            utilization: None,
            detail,
        })
    }

    /// An Object or External metric: [`Sync::average_of_value`] over `status_replicas` for an
    /// `AverageValue` target (`per_pod`), else [`Sync::value`] from `current`.
    pub fn value_metric(
        &self,
        per_pod: bool,
        current: i32,
        status_replicas: i32,
        value_milli: i64,
        target_milli: i64,
        pods: &[PodInfo],
    ) -> Result<Proposal, String> {
        if per_pod {
            self.average_of_value(status_replicas, value_milli, target_milli)
        } else {
            self.value(current, value_milli, target_milli, pods)
        }
    }

    /// An Object or External metric with an `AverageValue` target: the value shared by the
    /// target's current replicas (`status.replicas`).
    pub fn average_of_value(
        &self,
        status_replicas: i32,
        value_milli: i64,
        target_milli: i64,
    ) -> Result<Proposal, String> {
        if target_milli == 0 {
            return Err("the target is 0".into());
        }
        let ratio = value_milli as f64 / (target_milli as f64 * f64::from(status_replicas));
        let mut detail = format!(
            "value {} / (target {} × {status_replicas} replicas) = ratio {ratio:.3}",
            decimal(value_milli),
            decimal(target_milli)
        );
        let replicas = if self.tolerance.within(ratio) {
            detail += &format!(
                ", within tolerance {}: keep {status_replicas}",
                self.tolerance.describe()
            );
            status_replicas
        } else {
            let replicas = ceil_replicas(value_milli as f64 / target_milli as f64);
            detail += &format!(
                ": ceil({} / {}) = {replicas}",
                decimal(value_milli),
                decimal(target_milli)
            );
            replicas
        };
        Ok(Proposal {
            replicas,
            current_milli: (value_milli as f64 / f64::from(status_replicas)).ceil() as i64,
            utilization: None,
            detail,
        })
    }
}

/// The value of an External metric with several series: their sum, as an int64 that wraps as
/// Go's does (`GetExternalMetric`).
pub fn external_total(values: &[i64]) -> i64 {
    values.iter().fold(0_i64, |a, v| a.wrapping_add(*v))
}

/// One pod's usage of a resource from the resource metrics API, as the controller reads it
/// (`getPodMetrics`, `getContainerMetrics`): `containers` are the pod's containers with their
/// usage of the resource, if they report it. With `container`, that container's usage, and an
/// error when the pod's metrics lack the container (which fails the whole metric); else the sum
/// over the containers, an int64 that wraps as Go's does. `None` leaves the pod out: it reports
/// no containers, or a counted container lacks the resource.
pub fn pod_usage(
    namespace: &str,
    pod: &str,
    containers: &[(&str, Option<i64>)],
    container: Option<&str>,
) -> Result<Option<i64>, String> {
    if let Some(wanted) = container {
        return containers
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, usage)| *usage)
            .ok_or_else(|| {
                format!("container {wanted} not present in metrics for pod {namespace}/{pod}")
            });
    }
    if containers.is_empty() {
        return Ok(None);
    }
    Ok(containers
        .iter()
        .try_fold(0_i64, |sum, (_, usage)| usage.map(|u| sum.wrapping_add(u))))
}

/// Each pod's request of `resource` in milli-units: the pod-level request when set (and no
/// container is named), else the sum over its containers, or the named container's; an error
/// when a counted container requests none.
fn requests_of(
    pods: &[PodInfo],
    resource: &str,
    container: Option<&str>,
) -> Result<BTreeMap<String, i64>, String> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        if container.is_none()
            && let Some(request) = pod.pod_requests.get(resource)
        {
            requests.insert(pod.name.clone(), *request);
            continue;
        }
        let mut sum = 0_i64;
        for (name, container_requests) in &pod.containers {
            if container.is_some_and(|c| c != name) {
                continue;
            }
            let request = container_requests.get(resource).ok_or_else(|| {
                format!(
                    "missing request for {resource} in container {name} of Pod {}",
                    pod.name
                )
            })?;
            sum = sum.wrapping_add(*request);
        }
        requests.insert(pod.name.clone(), sum);
    }
    Ok(requests)
}

/// Utilization in whole percent (truncated) and the average value, over the pods that have both
/// a value and a request (`GetResourceUtilizationRatio`). The arithmetic is Go's: int64 sums and
/// products wrap, and the percentage is cut to an int32.
fn utilization_of(
    values: &BTreeMap<String, PodValue>,
    requests: &BTreeMap<String, i64>,
) -> Result<(i32, i64), String> {
    let (mut used, mut requested, mut pods) = (0_i64, 0_i64, 0_i64);
    for (name, value) in values {
        if let Some(request) = requests.get(name) {
            used = used.wrapping_add(value.milli);
            requested = requested.wrapping_add(*request);
            pods += 1;
        }
    }
    if requested == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = used.wrapping_mul(100).wrapping_div(requested) as i32;
    Ok((utilization, used.wrapping_div(pods.max(1))))
}

/// A replica count the controller sets without reading the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    /// The count it sets (the current one when autoscaling is disabled).
    pub replicas: i32,
    /// The reason of the HPA's condition: `ScalingDisabled` (`ScalingActive`), or
    /// `TooManyReplicas` or `TooFewReplicas` (`ScalingLimited`).
    pub reason: &'static str,
    /// The same in a sentence.
    pub why: String,
}

/// What the controller does before it reads any metric: a target scaled to 0 (with a
/// `minReplicas` other than 0) is left alone, and a count outside `[min, max]` is brought inside.
pub fn before_metrics(current: i32, min: i32, max: i32) -> Option<Fixed> {
    let fixed = |replicas, reason, why| {
        Some(Fixed {
            replicas,
            reason,
            why,
        })
    };
    if current == 0 && min != 0 {
        return fixed(
            0,
            "ScalingDisabled",
            "the target has 0 replicas: autoscaling is disabled until it is scaled up (ScalingDisabled)".into(),
        );
    }
    if current > max {
        return fixed(
            max,
            "TooManyReplicas",
            format!(
                "{current} replicas is more than maxReplicas {max}: set to {max} without reading the metrics"
            ),
        );
    }
    if current < min {
        return fixed(
            min,
            "TooFewReplicas",
            format!(
                "{current} replicas is fewer than minReplicas {min}: set to {min} without reading the metrics"
            ),
        );
    }
    None
}

/// What the metrics decide together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Scale on this count (the largest proposal).
    Scale(i32),
    /// Do not scale: every metric failed, or one failed and the others would scale down.
    Hold(String),
}

/// The end of `computeReplicasForMetrics`: the largest proposal of the metrics that have one,
/// unless every metric failed or one failed and the largest would scale down. As in Go, the
/// running count starts at 0 and any proposal replaces a 0, so a negative proposal after a 0
/// wins over it.
pub fn decide(proposals: &[Option<i32>], spec_replicas: i32) -> Decision {
    let invalid = proposals.iter().filter(|p| p.is_none()).count();
    let largest = proposals
        .iter()
        .flatten()
        .fold(0, |r, &p| if r == 0 || p > r { p } else { r });
    if invalid >= proposals.len() {
        Decision::Hold(format!(
            "no metric has a value ({} invalid out of {}): the controller does not scale",
            invalid,
            proposals.len()
        ))
    } else if invalid > 0 && largest < spec_replicas {
        Decision::Hold(format!(
            "{invalid} of {} metrics have no value and the others would scale down to {largest}: the controller does not scale",
            proposals.len()
        ))
    } else {
        Decision::Scale(largest)
    }
}

/// How a direction's policies combine (`selectPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// What a policy's value counts (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// A number of pods.
    Pods,
    /// A percent of the replicas at the start of the period.
    Percent,
    /// Anything else (the API rejects it): the controller proposes what the policy before it
    /// proposed (0 for the first), as its loop variable is left unchanged.
    Unknown,
}

/// One rate-limiting policy: at most `value` pods (or percent) per `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What `value` counts.
    pub kind: PolicyType,
    /// Pods or percent.
    pub value: i32,
    /// The period.
    pub period_seconds: i32,
}

/// One direction of `spec.behavior`, with the API's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direction {
    /// `stabilizationWindowSeconds`.
    pub stabilization_seconds: i32,
    /// `selectPolicy`.
    pub select: Select,
    /// `policies`.
    pub policies: Vec<Policy>,
}

/// `spec.behavior`, with the API's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// Scaling up.
    pub up: Direction,
    /// Scaling down.
    pub down: Direction,
}

/// A direction as the API server defaults it (`copyHPAScalingRules`): each field the spec sets
/// replaces the default, `policies` included (even an empty list, which validation rejects).
fn direction(
    spec: Option<&HPAScalingRules>,
    stabilization_seconds: i32,
    policies: Vec<Policy>,
) -> Direction {
    let select = match spec.and_then(|s| s.select_policy.as_deref()) {
        Some("Min") => Select::Min,
        Some("Disabled") => Select::Disabled,
        _ => Select::Max,
    };
    let policies = match spec.and_then(|s| s.policies.as_ref()) {
        Some(own) => own
            .iter()
            .map(|p| Policy {
                kind: match p.type_.as_str() {
                    "Pods" => PolicyType::Pods,
                    "Percent" => PolicyType::Percent,
                    _ => PolicyType::Unknown,
                },
                value: p.value,
                period_seconds: p.period_seconds,
            })
            .collect(),
        None => policies,
    };
    Direction {
        stabilization_seconds: spec
            .and_then(|s| s.stabilization_window_seconds)
            .unwrap_or(stabilization_seconds),
        select,
        policies,
    }
}

impl Behavior {
    /// The behaviour as the API server stores it and the controller completes it: scale-up
    /// `Max` of `Pods 4` and `Percent 100` per 15 s without stabilization; scale-down
    /// `Percent 100` per 15 s, stabilized over the controller's
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (`downscale_stabilization_seconds`,
    /// [`DOWNSCALE_STABILIZATION_SECONDS`] unless changed) when the spec sets no window.
    pub fn of(
        spec: &HorizontalPodAutoscalerBehavior,
        downscale_stabilization_seconds: i32,
    ) -> Behavior {
        let per_15s = |kind, value| Policy {
            kind,
            value,
            period_seconds: 15,
        };
        Behavior {
            up: direction(
                spec.scale_up.as_ref(),
                0,
                vec![
                    per_15s(PolicyType::Pods, 4),
                    per_15s(PolicyType::Percent, 100),
                ],
            ),
            down: direction(
                spec.scale_down.as_ref(),
                downscale_stabilization_seconds,
                vec![per_15s(PolicyType::Percent, 100)],
            ),
        }
    }
}

fn describe_policy(policy: &Policy) -> String {
    match policy.kind {
        PolicyType::Pods => format!("{} pods per {}s", policy.value, policy.period_seconds),
        PolicyType::Percent => format!("{}% per {}s", policy.value, policy.period_seconds),
        PolicyType::Unknown => format!(
            "{} of an unknown type per {}s",
            policy.value, policy.period_seconds
        ),
    }
}

/// A replica count within the rate limits and `[min, max]`, and what bound it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The count the controller sets.
    pub replicas: i32,
    /// The `ScalingLimited` reason: `DesiredWithinRange`, `ScaleUpLimit`, `ScaleDownLimit`,
    /// `TooManyReplicas` or `TooFewReplicas`.
    pub reason: &'static str,
    /// How the count was bounded, when it was.
    pub note: Option<String>,
}

impl Limited {
    fn within(replicas: i32) -> Limited {
        Limited {
            replicas,
            reason: "DesiredWithinRange",
            note: None,
        }
    }

    fn bound(replicas: i32, reason: &'static str, note: String) -> Limited {
        Limited {
            replicas,
            reason,
            note: Some(note),
        }
    }
}

/// The most replicas allowed, its `ScalingLimited` reason and why: the scale-up limit (`why`
/// says how it came about) unless `maxReplicas` is not above it.
fn upper_bound(limit: i32, why: String, max: i32) -> (i32, &'static str, String) {
    if max > limit {
        (limit, "ScaleUpLimit", why)
    } else {
        (max, "TooManyReplicas", format!("maxReplicas {max}"))
    }
}

/// `convertDesiredReplicasWithRules`, for an HPA without `behavior`: at most
/// `max(2 × current, 4)` up, and within `[min, max]`.
pub fn limit_legacy(current: i32, desired: i32, min: i32, max: i32) -> Limited {
    let up_limit = current.saturating_mul(2).max(4);
    let (upper, reason, why) = upper_bound(
        up_limit,
        format!("at most max(2 × {current}, 4) = {up_limit} in one step"),
        max,
    );
    if desired < min {
        Limited::bound(
            min,
            "TooFewReplicas",
            format!("raised to minReplicas {min}"),
        )
    } else if desired > upper {
        Limited::bound(upper, reason, format!("limited to {upper}: {why}"))
    } else {
        Limited::within(desired)
    }
}

/// `convertDesiredReplicasWithBehaviorRate`, for an HPA with `behavior`: the scale-up or
/// scale-down policies, then `[min, max]`. `period_start(seconds)` is the replica count at the
/// start of a policy's period: the current count less the replicas added and plus those removed
/// within it, as the controller's scale events say (the current count when none are known).
pub fn limit_with_behavior(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    behavior: &Behavior,
    period_start: &dyn Fn(i32) -> i32,
) -> Limited {
    if desired > current {
        let (limit, how) = policy_limit(current, &behavior.up, true, period_start);
        // No further scale-up until the events of the periods have aged out.
        let limit = limit.max(current);
        let (upper, reason, why) = upper_bound(
            limit,
            format!("behavior.scaleUp allows {limit} ({how})"),
            max,
        );
        if desired > upper {
            return Limited::bound(upper, reason, format!("limited to {upper}: {why}"));
        }
    } else if desired < current {
        let (limit, how) = policy_limit(current, &behavior.down, false, period_start);
        let limit = limit.min(current);
        let (lower, reason, why) = if min < limit {
            (
                limit,
                "ScaleDownLimit",
                format!("behavior.scaleDown allows {limit} ({how})"),
            )
        } else {
            (min, "TooFewReplicas", format!("minReplicas {min}"))
        };
        if desired < lower {
            return Limited::bound(lower, reason, format!("limited to {lower}: {why}"));
        }
    }
    Limited::within(desired)
}

/// The replica count of this step, and the sentences that say how it was bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The count the controller sets now.
    pub replicas: i32,
    /// How the proposal was bounded, in order.
    pub notes: Vec<String>,
}

/// From the metrics' proposal to this step's count, for a current count within `[min, max]`:
/// [`limit_legacy`] without `behavior`, [`limit_with_behavior`] with it (as if no scaling
/// happened in the policies' periods). The stabilization windows need the recommendations of
/// earlier syncs: they are named in a note.
pub fn step(current: i32, proposal: i32, min: i32, max: i32, behavior: Option<&Behavior>) -> Step {
    let mut notes = Vec::new();
    let limited = match behavior {
        None => {
            if proposal < current {
                notes.push(format!(
                    "a scale-down takes the highest recommendation of the last {}s (--horizontal-pod-autoscaler-downscale-stabilization): it happens once the metrics have proposed at most {proposal} for that long",
                    DOWNSCALE_STABILIZATION_SECONDS
                ));
            }
            limit_legacy(current, proposal, min, max)
        }
        Some(behavior) => {
            if proposal > current && behavior.up.stabilization_seconds > 0 {
                notes.push(format!(
                    "a scale-up takes the lowest recommendation of the last {}s (behavior.scaleUp.stabilizationWindowSeconds)",
                    behavior.up.stabilization_seconds
                ));
            } else if proposal < current && behavior.down.stabilization_seconds > 0 {
                notes.push(format!(
                    "a scale-down takes the highest recommendation of the last {}s (behavior.scaleDown.stabilizationWindowSeconds): it happens once the metrics have proposed at most {proposal} for that long",
                    behavior.down.stabilization_seconds
                ));
            }
            limit_with_behavior(current, proposal, min, max, behavior, &|_| current)
        }
    };
    notes.extend(limited.note);
    Step {
        replicas: limited.replicas,
        notes,
    }
}

/// What each policy proposes, in order, and how: `up` adds to the count at the start of its
/// period, else removes from it.
fn proposals(rules: &Direction, up: bool, period_start: &dyn Fn(i32) -> i32) -> Vec<(i32, String)> {
    let mut proposed = 0_i32;
    rules
        .policies
        .iter()
        .map(|p| {
            let start = period_start(p.period_seconds);
            let change = f64::from(p.value) / 100.0;
            match (p.kind, up) {
                (PolicyType::Pods, true) => proposed = start.wrapping_add(p.value),
                (PolicyType::Pods, false) => proposed = start.wrapping_sub(p.value),
                // Rounded up, or a small percent would never add a pod.
                (PolicyType::Percent, true) => {
                    proposed = ceil_replicas(f64::from(start) * (1.0 + change))
                }
                (PolicyType::Percent, false) => {
                    proposed = (f64::from(start) * (1.0 - change)) as i32
                }
                (PolicyType::Unknown, _) => {}
            }
            (proposed, format!("{} → {proposed}", describe_policy(p)))
        })
        .collect()
}

/// The limit a direction's policies set from `current`: scaling up the most replicas
/// (`calculateScaleUpLimitWithScalingRules`), down the fewest
/// (`calculateScaleDownLimitWithBehaviors`). `Max` picks the largest change: the highest limit
/// up, the lowest down.
fn policy_limit(
    current: i32,
    rules: &Direction,
    up: bool,
    period_start: &dyn Fn(i32) -> i32,
) -> (i32, String) {
    if rules.select == Select::Disabled {
        return (current, "selectPolicy Disabled".into());
    }
    let largest_change = rules.select == Select::Max;
    pick(proposals(rules, up, period_start), largest_change == up)
}

/// The highest (`highest`) or lowest proposal, and how it was chosen. Without policies it is
/// the end of the range the controller starts from (`MinInt32` for the highest).
fn pick(proposals: Vec<(i32, String)>, highest: bool) -> (i32, String) {
    let chosen = if highest {
        proposals.iter().map(|(l, _)| *l).max().unwrap_or(i32::MIN)
    } else {
        proposals.iter().map(|(l, _)| *l).min().unwrap_or(i32::MAX)
    };
    let how: Vec<String> = proposals.into_iter().map(|(_, h)| h).collect();
    let word = if highest { "max" } else { "min" };
    match how.len() {
        0 => (chosen, "no policies".into()),
        1 => (chosen, how.join("")),
        _ => (chosen, format!("{word} of {}", how.join(", "))),
    }
}

#[cfg(test)]
mod tests;
