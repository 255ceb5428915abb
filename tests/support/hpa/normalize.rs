//! From the metrics' proposal to the replica count the controller writes (kubernetes
//! `horizontal.go`: `normalizeDesiredReplicas`, `stabilizeRecommendation`,
//! `convertDesiredReplicasWithRules` for HPAs without `spec.behavior`, and the
//! `...WithBehaviors` variants for HPAs with it), with the time of each sync given explicitly.
//!
//! The state the controller keeps between syncs (recommendation history, scale events) lives in
//! [`ScalingHistory`], one per HPA.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};

/// How a direction's policies combine (`selectPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the biggest change (default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// What a policy's value counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// A number of pods.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
    /// Anything else: proposes what the previous policy proposed, as Go's loop variable does.
    Unknown,
}

/// One rate-limiting policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// `type`.
    pub kind: PolicyType,
    /// Number of pods or percent.
    pub value: i32,
    /// The window the policy looks back over.
    pub period_seconds: i32,
}

/// One direction of `spec.behavior`, with API defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRules {
    /// `stabilizationWindowSeconds`.
    pub stabilization_window_seconds: i32,
    /// `selectPolicy`.
    pub select_policy: SelectPolicy,
    /// `policies`.
    pub policies: Vec<ScalingPolicy>,
}

/// `spec.behavior` with the API server's defaults (autoscaling/v2 `defaults.go`) and the
/// controller's downscale stabilization window applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// Rules for scaling up.
    pub scale_up: ScalingRules,
    /// Rules for scaling down.
    pub scale_down: ScalingRules,
}

impl Behavior {
    /// Fill what `spec` leaves unset: scale-up `0 s`, `Max`, `Pods 4/15 s` and `Percent 100/15 s`;
    /// scale-down `Max`, `Percent 100/15 s`, and `downscale_window` as its stabilization.
    pub fn from_spec(
        spec: &HorizontalPodAutoscalerBehavior,
        downscale_window: SignedDuration,
    ) -> Behavior {
        let up_defaults = [
            ScalingPolicy {
                kind: PolicyType::Pods,
                value: 4,
                period_seconds: 15,
            },
            ScalingPolicy {
                kind: PolicyType::Percent,
                value: 100,
                period_seconds: 15,
            },
        ];
        let down_defaults = [ScalingPolicy {
            kind: PolicyType::Percent,
            value: 100,
            period_seconds: 15,
        }];
        Behavior {
            scale_up: rules(spec.scale_up.as_ref(), 0, &up_defaults),
            scale_down: rules(
                spec.scale_down.as_ref(),
                downscale_window.as_secs() as i32,
                &down_defaults,
            ),
        }
    }
}

fn rules(
    spec: Option<&HPAScalingRules>,
    default_window: i32,
    default_policies: &[ScalingPolicy],
) -> ScalingRules {
    let select_policy = match spec.and_then(|s| s.select_policy.as_deref()) {
        Some("Min") => SelectPolicy::Min,
        Some("Disabled") => SelectPolicy::Disabled,
        _ => SelectPolicy::Max,
    };
    let policies = match spec.and_then(|s| s.policies.as_ref()) {
        Some(policies) => policies
            .iter()
            .map(|p| ScalingPolicy {
                kind: match p.type_.as_str() {
                    "Pods" => PolicyType::Pods,
                    "Percent" => PolicyType::Percent,
                    _ => PolicyType::Unknown,
                },
                value: p.value,
                period_seconds: p.period_seconds,
            })
            .collect(),
        None => default_policies.to_vec(),
    };
    ScalingRules {
        stabilization_window_seconds: spec
            .and_then(|s| s.stabilization_window_seconds)
            .unwrap_or(default_window),
        select_policy,
        policies,
    }
}

/// The replica count to write, and why it differs from the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normalized {
    /// The replica count after stabilization and limits.
    pub replicas: i32,
    /// The recommendation after stabilization, before limits.
    pub stabilized: i32,
    /// The `ScalingLimited` reason: `DesiredWithinRange`, `ScaleUpLimit`, `ScaleDownLimit`,
    /// `TooManyReplicas` or `TooFewReplicas`.
    pub reason: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timestamped {
    replicas: i32,
    at: Timestamp,
}

/// What the controller remembers about one HPA between syncs.
#[derive(Debug, Clone, Default)]
pub struct ScalingHistory {
    initialized: bool,
    recommendations: Vec<Timestamped>,
    scale_up_events: Vec<Timestamped>,
    scale_down_events: Vec<Timestamped>,
}

fn sub(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_sub(d).unwrap_or(t)
}

impl ScalingHistory {
    /// A history holding these `(replicas, at)` recommendations (as Go's table tests set up).
    pub fn with_recommendations(recommendations: &[(i32, Timestamp)]) -> ScalingHistory {
        ScalingHistory {
            initialized: true,
            recommendations: recommendations
                .iter()
                .map(|(replicas, at)| Timestamped {
                    replicas: *replicas,
                    at: *at,
                })
                .collect(),
            ..ScalingHistory::default()
        }
    }

    /// The recorded `(replicas, at)` recommendations, oldest slot first.
    pub fn recommendations(&self) -> Vec<(i32, Timestamp)> {
        self.recommendations
            .iter()
            .map(|r| (r.replicas, r.at))
            .collect()
    }

    /// `recordInitialRecommendation`: the first sync remembers the current count, so a freshly
    /// seen HPA does not scale down within its first stabilization window.
    pub fn record_initial(&mut self, current_replicas: i32, now: Timestamp) {
        if !self.initialized {
            self.initialized = true;
            self.recommendations.push(Timestamped {
                replicas: current_replicas,
                at: now,
            });
        }
    }

    /// Record `replicas` at `now`, reusing the slot of `old` (the last expired one) if any,
    /// as Go does.
    fn remember(&mut self, old: Option<usize>, replicas: i32, now: Timestamp) {
        let entry = Timestamped { replicas, at: now };
        match old {
            Some(i) => self.recommendations[i] = entry,
            None => self.recommendations.push(entry),
        }
    }

    /// `stabilizeRecommendation`: the highest recommendation within `window`, recording
    /// `desired`.
    pub fn stabilize(&mut self, now: Timestamp, window: SignedDuration, desired: i32) -> i32 {
        let cutoff = sub(now, window);
        let mut highest = desired;
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if rec.at < cutoff {
                old = Some(i);
            } else if rec.replicas > highest {
                highest = rec.replicas;
            }
        }
        self.remember(old, desired, now);
        highest
    }

    /// `normalizeDesiredReplicas` (no `spec.behavior`): stabilize over the downscale window,
    /// then clamp to `[min, min(max, max(2 × current, 4))]`.
    pub fn normalize_legacy(
        &mut self,
        now: Timestamp,
        downscale_window: SignedDuration,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
    ) -> Normalized {
        let stabilized = self.stabilize(now, downscale_window, desired);
        let (replicas, reason) = limit_legacy(current, stabilized, min, max);
        Normalized {
            replicas,
            stabilized,
            reason,
        }
    }

    /// `normalizeDesiredReplicasWithBehaviors`.
    pub fn normalize_with_behavior(
        &mut self,
        now: Timestamp,
        behavior: &Behavior,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
    ) -> Normalized {
        let stabilized = self.stabilize_with_behavior(now, behavior, current, desired);
        let (replicas, reason) =
            self.limit_with_behavior(now, behavior, current, stabilized, min, max);
        Normalized {
            replicas,
            stabilized,
            reason,
        }
    }

    /// `stabilizeRecommendationWithBehaviors`: scale up no further than the lowest
    /// recommendation in the scale-up window, down no further than the highest in the
    /// scale-down window.
    fn stabilize_with_behavior(
        &mut self,
        now: Timestamp,
        behavior: &Behavior,
        current: i32,
        desired: i32,
    ) -> i32 {
        let window = |rules: &ScalingRules| {
            sub(
                now,
                SignedDuration::from_secs(i64::from(rules.stabilization_window_seconds)),
            )
        };
        let (up_cutoff, down_cutoff) = (window(&behavior.scale_up), window(&behavior.scale_down));
        let (mut up, mut down) = (desired, desired);
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if rec.at > up_cutoff {
                up = up.min(rec.replicas);
            }
            if rec.at > down_cutoff {
                down = down.max(rec.replicas);
            }
            if rec.at < up_cutoff && rec.at < down_cutoff {
                old = Some(i);
            }
        }
        self.remember(old, desired, now);
        current.max(up).min(down)
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn limit_with_behavior(
        &self,
        now: Timestamp,
        behavior: &Behavior,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
    ) -> (i32, &'static str) {
        if desired > current {
            let limit = self
                .scale_up_limit(now, &behavior.scale_up, current)
                .max(current);
            let (allowed, reason) = if max > limit {
                (limit, "ScaleUpLimit")
            } else {
                (max, "TooManyReplicas")
            };
            if desired > allowed {
                return (allowed, reason);
            }
        } else if desired < current {
            let limit = self
                .scale_down_limit(now, &behavior.scale_down, current)
                .min(current);
            let (allowed, reason) = if min < limit {
                (limit, "ScaleDownLimit")
            } else {
                (min, "TooFewReplicas")
            };
            if desired < allowed {
                return (allowed, reason);
            }
        }
        (desired, "DesiredWithinRange")
    }

    /// Replicas added (`up`) or removed within the last `period_seconds`.
    fn change_in_period(&self, now: Timestamp, period_seconds: i32, up: bool) -> i32 {
        let cutoff = sub(now, SignedDuration::from_secs(i64::from(period_seconds)));
        let events = if up {
            &self.scale_up_events
        } else {
            &self.scale_down_events
        };
        events
            .iter()
            .filter(|e| e.at > cutoff)
            .map(|e| e.replicas)
            .sum()
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn scale_up_limit(&self, now: Timestamp, rules: &ScalingRules, current: i32) -> i32 {
        let (mut result, pick): (i32, fn(i32, i32) -> i32) = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => (i32::MAX, std::cmp::min),
            SelectPolicy::Max => (i32::MIN, std::cmp::max),
        };
        let mut proposed = 0;
        for policy in &rules.policies {
            let start = current - self.change_in_period(now, policy.period_seconds, true)
                + self.change_in_period(now, policy.period_seconds, false);
            match policy.kind {
                PolicyType::Pods => proposed = start + policy.value,
                PolicyType::Percent => {
                    proposed =
                        (f64::from(start) * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i32
                }
                PolicyType::Unknown => {}
            }
            result = pick(result, proposed);
        }
        result
    }

    /// `calculateScaleDownLimitWithBehaviors`.
    fn scale_down_limit(&self, now: Timestamp, rules: &ScalingRules, current: i32) -> i32 {
        let (mut result, pick): (i32, fn(i32, i32) -> i32) = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => (i32::MIN, std::cmp::max),
            SelectPolicy::Max => (i32::MAX, std::cmp::min),
        };
        let mut proposed = 0;
        for policy in &rules.policies {
            let start = current - self.change_in_period(now, policy.period_seconds, true)
                + self.change_in_period(now, policy.period_seconds, false);
            match policy.kind {
                PolicyType::Pods => proposed = start - policy.value,
                PolicyType::Percent => {
                    proposed = (f64::from(start) * (1.0 - f64::from(policy.value) / 100.0)) as i32
                }
                PolicyType::Unknown => {}
            }
            result = pick(result, proposed);
        }
        result
    }

    /// `storeScaleEvent`: remember a rescale from `previous` to `new` (only HPAs with a
    /// behavior keep events).
    pub fn record_scale(&mut self, now: Timestamp, with_behavior: bool, previous: i32, new: i32) {
        if !with_behavior || new == previous {
            return;
        }
        let (events, change) = if new > previous {
            (&mut self.scale_up_events, new - previous)
        } else {
            (&mut self.scale_down_events, previous - new)
        };
        events.push(Timestamped {
            replicas: change,
            at: now,
        });
    }
}

/// `convertDesiredReplicasWithRules`: clamp to `[min, min(max, max(2 × current, 4))]`.
pub fn limit_legacy(current: i32, desired: i32, min: i32, max: i32) -> (i32, &'static str) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (allowed, reason) = if max > scale_up_limit {
        (scale_up_limit, "ScaleUpLimit")
    } else {
        (max, "TooManyReplicas")
    };
    if desired < min {
        (min, "TooFewReplicas")
    } else if desired > allowed {
        (allowed, reason)
    } else {
        (desired, "DesiredWithinRange")
    }
}

#[cfg(test)]
mod tests;
