//! Cases named `Go: …` are rows of kubernetes `pkg/controller/podautoscaler/horizontal_test.go`.

use super::*;
use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;

fn now() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().unwrap()
}

fn ago(seconds: i64) -> Timestamp {
    now() - SignedDuration::from_secs(seconds)
}

const FIVE_MINUTES: SignedDuration = SignedDuration::from_mins(5);

#[test]
fn legacy_stabilization_keeps_the_highest_recent_recommendation() {
    // Go: TestNormalizeDesiredReplicas, every row: (history, proposal, stabilized, history
    // length afterwards). Expired entries (older than 5 min) are ignored and the last of them
    // is overwritten by the new recommendation.
    type Row<'a> = (&'a [(i32, Timestamp)], i32, i32, usize);
    let rows: [Row; 5] = [
        // "empty log"
        (&[], 5, 5, 1),
        // "stabilize": max(4, 5, 3) = 5
        (&[(4, ago(120)), (5, ago(60))], 3, 5, 3),
        // "no stabilize": max(1, 2, 3) = 3
        (&[(1, ago(120)), (2, ago(60))], 3, 3, 3),
        // "no stabilize - old recommendations": both expired, the second slot reused
        (&[(10, ago(600)), (9, ago(540))], 3, 3, 2),
        // "stabilize - old recommendations": max(4, 5, 3) = 5, the slot of 9 reused
        (
            &[(10, ago(600)), (4, ago(60)), (5, ago(120)), (9, ago(540))],
            3,
            5,
            4,
        ),
    ];
    for (history, proposal, stabilized, length) in rows {
        let mut h = ScalingHistory::with_recommendations(history);
        assert_eq!(
            h.stabilize(now(), FIVE_MINUTES, proposal),
            stabilized,
            "{history:?}"
        );
        assert_eq!(h.recommendations().len(), length, "{history:?}");
    }
    // The reused slot holds the new recommendation.
    let mut h = ScalingHistory::with_recommendations(&[(10, ago(600)), (9, ago(540))]);
    h.stabilize(now(), FIVE_MINUTES, 3);
    assert_eq!(h.recommendations(), vec![(10, ago(600)), (3, now())]);
}

#[test]
fn the_first_sync_remembers_the_current_count() {
    // The controller records the current count the first time it sees an HPA, so a scale-down
    // proposal (5 → 2) is held at 5 until that record is 5 minutes old.
    let mut h = ScalingHistory::default();
    h.record_initial(5, ago(60));
    h.record_initial(7, now()); // only the first call counts
    let n = h.normalize_legacy(now(), FIVE_MINUTES, 5, 2, 1, 10);
    assert_eq!((n.replicas, n.stabilized), (5, 5));
    // Six minutes later both records have expired: the count drops to 2.
    let later = now() + SignedDuration::from_mins(6);
    let n = h.normalize_legacy(later, FIVE_MINUTES, 5, 2, 1, 10);
    assert_eq!((n.replicas, n.reason), (2, "DesiredWithinRange"));
}

#[test]
fn legacy_limits_double_or_add_four_and_respect_min_and_max() {
    // max(2 × 3, 4) = 6 caps a proposal of 10 when maxReplicas is 100.
    assert_eq!(limit_legacy(3, 10, 1, 100), (6, "ScaleUpLimit"));
    // From 1: max(2, 4) = 4.
    assert_eq!(limit_legacy(1, 10, 1, 100), (4, "ScaleUpLimit"));
    // maxReplicas 5 is below the scale-up limit 6.
    assert_eq!(limit_legacy(3, 10, 1, 5), (5, "TooManyReplicas"));
    // Below minReplicas.
    assert_eq!(limit_legacy(3, 0, 2, 5), (2, "TooFewReplicas"));
    // Scale-down is not rate limited.
    assert_eq!(limit_legacy(10, 1, 1, 10), (1, "DesiredWithinRange"));
    // Go: TestUpscaleCap without behavior would be capped at max(2 × 3, 4) = 6 of a wanted 24.
    assert_eq!(limit_legacy(3, 24, 1, 100), (6, "ScaleUpLimit"));
}

fn behavior(up: Option<HPAScalingRules>, down: Option<HPAScalingRules>) -> Behavior {
    Behavior::from_spec(
        &HorizontalPodAutoscalerBehavior {
            scale_up: up,
            scale_down: down,
        },
        FIVE_MINUTES,
    )
}

fn rules(
    window: Option<i32>,
    select: Option<&str>,
    policies: &[(&str, i32, i32)],
) -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: window,
        select_policy: select.map(str::to_owned),
        policies: (!policies.is_empty()).then(|| {
            policies
                .iter()
                .map(|(t, value, period)| HPAScalingPolicy {
                    type_: (*t).to_owned(),
                    value: *value,
                    period_seconds: *period,
                })
                .collect()
        }),
        tolerance: None,
    }
}

#[test]
fn behavior_defaults_are_the_api_defaults() {
    let b = behavior(None, None);
    assert_eq!(b.scale_up.stabilization_window_seconds, 0);
    assert_eq!(b.scale_up.select_policy, SelectPolicy::Max);
    assert_eq!(
        b.scale_up.policies,
        vec![
            ScalingPolicy {
                kind: PolicyType::Pods,
                value: 4,
                period_seconds: 15
            },
            ScalingPolicy {
                kind: PolicyType::Percent,
                value: 100,
                period_seconds: 15
            },
        ]
    );
    assert_eq!(b.scale_down.stabilization_window_seconds, 300);
    assert_eq!(
        b.scale_down.policies,
        vec![ScalingPolicy {
            kind: PolicyType::Percent,
            value: 100,
            period_seconds: 15
        }]
    );
    // Only the unset fields are filled.
    let b = behavior(
        Some(rules(Some(60), None, &[])),
        Some(rules(None, Some("Disabled"), &[])),
    );
    assert_eq!(b.scale_up.stabilization_window_seconds, 60);
    assert_eq!(b.scale_up.policies.len(), 2);
    assert_eq!(b.scale_down.select_policy, SelectPolicy::Disabled);
    assert_eq!(b.scale_down.stabilization_window_seconds, 300);
}

#[test]
fn default_behavior_rate_limits_scale_up() {
    let b = behavior(None, None);
    // From 3 with no recent events: Pods 3 + 4 = 7, Percent ceil(3 × 2) = 6; Max picks 7.
    let n = ScalingHistory::default().normalize_with_behavior(now(), &b, 3, 20, 1, 100);
    assert_eq!((n.replicas, n.reason), (7, "ScaleUpLimit"));
    // From 10: Pods 14, Percent 20: 20.
    let n = ScalingHistory::default().normalize_with_behavior(now(), &b, 10, 50, 1, 100);
    assert_eq!(n.replicas, 20);
    // maxReplicas below the rate limit.
    let n = ScalingHistory::default().normalize_with_behavior(now(), &b, 10, 50, 1, 12);
    assert_eq!((n.replicas, n.reason), (12, "TooManyReplicas"));
    // Go: TestUpscaleCap: one Percent 700 / 60 s policy lets 3 become ceil(3 × 8) = 24.
    let cap = behavior(Some(rules(Some(0), None, &[("Percent", 700, 60)])), None);
    let n = ScalingHistory::default().normalize_with_behavior(now(), &cap, 3, 24, 1, 100);
    assert_eq!(n.replicas, 24);
    // Go: TestUpscaleCapGreaterThanMaxReplicas: the same with maxReplicas 20.
    let n = ScalingHistory::default().normalize_with_behavior(now(), &cap, 3, 24, 1, 20);
    assert_eq!((n.replicas, n.reason), (20, "TooManyReplicas"));
}

#[test]
fn scale_events_within_the_period_count_against_the_limit() {
    let b = behavior(None, None);
    let mut h = ScalingHistory::default();
    // 3 → 6 ten seconds ago. Now at 6: the period started at 6 - 3 = 3, so Pods allows 7 and
    // Percent 6: 7.
    h.record_scale(ago(10), true, 3, 6);
    let n = h.normalize_with_behavior(now(), &b, 6, 20, 1, 100);
    assert_eq!((n.replicas, n.reason), (7, "ScaleUpLimit"));
    // Twenty seconds later the event is outside the 15 s period: from 6, Pods 10, Percent 12.
    let later = now() + SignedDuration::from_secs(20);
    let n = h.normalize_with_behavior(later, &b, 6, 20, 1, 100);
    assert_eq!(n.replicas, 12);
    // Without a behavior no events are kept.
    let mut legacy = ScalingHistory::default();
    legacy.record_scale(ago(10), false, 3, 6);
    let n = legacy.normalize_with_behavior(now(), &b, 6, 20, 1, 100);
    assert_eq!(n.replicas, 12);
}

#[test]
fn scale_down_policies_and_select_policy() {
    // One pod per minute, and 10 → 9 thirty seconds ago: the period started at 10, so the
    // limit is 10 - 1 = 9 and a proposal of 2 stays at 9.
    let down = rules(Some(0), None, &[("Pods", 1, 60)]);
    let b = behavior(None, Some(down));
    let mut h = ScalingHistory::default();
    h.record_scale(ago(30), true, 10, 9);
    let n = h.normalize_with_behavior(now(), &b, 9, 2, 1, 20);
    assert_eq!((n.replicas, n.reason), (9, "ScaleDownLimit"));

    // Percent 50 / 60 s from 5: floor(5 × 0.5) = 2 (Go truncates on the way down).
    let half = behavior(None, Some(rules(Some(0), None, &[("Percent", 50, 60)])));
    let n = ScalingHistory::default().normalize_with_behavior(now(), &half, 5, 1, 1, 20);
    assert_eq!((n.replicas, n.reason), (2, "ScaleDownLimit"));

    // Disabled: no scale-down at all.
    let off = behavior(None, Some(rules(Some(0), Some("Disabled"), &[])));
    let n = ScalingHistory::default().normalize_with_behavior(now(), &off, 10, 2, 1, 20);
    assert_eq!(n.replicas, 10);

    // Min on scale-up picks the smaller change: from 3, min(7, 6) = 6.
    let min = behavior(Some(rules(None, Some("Min"), &[])), None);
    let n = ScalingHistory::default().normalize_with_behavior(now(), &min, 3, 20, 1, 100);
    assert_eq!(n.replicas, 6);

    // The default scale-down policy (100 %) only stops at minReplicas.
    let n = ScalingHistory::default().normalize_with_behavior(
        now(),
        &behavior(None, None),
        10,
        0,
        2,
        20,
    );
    assert_eq!((n.replicas, n.reason), (2, "TooFewReplicas"));
}

#[test]
fn behavior_stabilization_uses_both_windows() {
    // Scale-up window 60 s holding a 5 from 30 s ago: a proposal of 10 from 4 is held to
    // min(10, 5) = 5; the scale-down window's max(10, 5) = 10 does not bind.
    let b = behavior(Some(rules(Some(60), None, &[])), None);
    let mut h = ScalingHistory::with_recommendations(&[(5, ago(30))]);
    let n = h.normalize_with_behavior(now(), &b, 4, 10, 1, 100);
    assert_eq!((n.stabilized, n.replicas), (5, 5));
    // Scale-down window (default 300 s) holding 8 from 4 minutes ago: 8 → 3 is held at 8.
    let mut h = ScalingHistory::with_recommendations(&[(8, ago(240))]);
    let n = h.normalize_with_behavior(now(), &behavior(None, None), 8, 3, 1, 100);
    assert_eq!(n.replicas, 8);
    // Five minutes later, only the 3 remains in the window.
    let later = now() + SignedDuration::from_mins(5);
    let n = h.normalize_with_behavior(later, &behavior(None, None), 8, 3, 1, 100);
    assert_eq!(n.replicas, 3);
}
