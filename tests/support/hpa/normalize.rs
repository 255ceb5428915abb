//! From the metrics' proposal to the replica count the controller writes (kubernetes
//! `horizontal.go`: `normalizeDesiredReplicas`, `stabilizeRecommendation` for HPAs without
//! `spec.behavior`, and the `...WithBehaviors` variants for HPAs with it), with the time of each
//! sync given explicitly.
//!
//! The rate limits and bounds are the library's ([`replicas::limit_legacy`],
//! [`replicas::limit_with_behavior`]); what only a running controller has lives here: the state
//! it keeps between syncs (recommendation history, scale events), one [`ScalingHistory`] per HPA.

use jiff::{SignedDuration, Timestamp};
use metrics_adapter::explain::replicas::{self, Behavior, Direction};

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
        let limited = replicas::limit_legacy(current, stabilized, min, max);
        Normalized {
            replicas: limited.replicas,
            stabilized,
            reason: limited.reason,
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
        // The count at the start of a policy's period: less what was added, plus what was
        // removed within it.
        let period_start = |period_seconds| {
            current - self.change_in_period(now, period_seconds, true)
                + self.change_in_period(now, period_seconds, false)
        };
        let limited =
            replicas::limit_with_behavior(current, stabilized, min, max, behavior, &period_start);
        Normalized {
            replicas: limited.replicas,
            stabilized,
            reason: limited.reason,
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
        let window = |rules: &Direction| {
            sub(
                now,
                SignedDuration::from_secs(i64::from(rules.stabilization_seconds)),
            )
        };
        let (up_cutoff, down_cutoff) = (window(&behavior.up), window(&behavior.down));
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

#[cfg(test)]
mod tests;
