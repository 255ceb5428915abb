//! The controller's memory between syncs: stabilization over the recorded recommendations, and
//! rate limits over the recorded scale events (the limits themselves are tested in the library).
//! Cases named `Go: …` are rows of kubernetes `pkg/controller/podautoscaler/horizontal_test.go`.

use super::*;
use serde_json::json;

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

/// `spec.behavior` from its JSON, completed with the controller's five-minute window.
fn behavior(spec: serde_json::Value) -> Behavior {
    Behavior::of(
        &serde_json::from_value(spec).unwrap(),
        FIVE_MINUTES.as_secs() as i32,
    )
}

#[test]
fn scale_events_within_the_period_count_against_the_limit() {
    let b = behavior(json!({}));
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
fn scale_down_events_count_against_the_scale_down_limit() {
    // One pod per minute, and 10 → 9 thirty seconds ago: the period started at 10, so the
    // limit is 10 - 1 = 9 and a proposal of 2 stays at 9.
    let b = behavior(json!({"scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    }}));
    let mut h = ScalingHistory::default();
    h.record_scale(ago(30), true, 10, 9);
    let n = h.normalize_with_behavior(now(), &b, 9, 2, 1, 20);
    assert_eq!((n.replicas, n.reason), (9, "ScaleDownLimit"));
    // Two minutes on, the event is out of the period: 9 - 1 = 8.
    let later = now() + SignedDuration::from_mins(2);
    let n = h.normalize_with_behavior(later, &b, 9, 2, 1, 20);
    assert_eq!((n.replicas, n.reason), (8, "ScaleDownLimit"));
}

#[test]
fn behavior_stabilization_uses_both_windows() {
    // Scale-up window 60 s holding a 5 from 30 s ago: a proposal of 10 from 4 is held to
    // min(10, 5) = 5; the scale-down window's max(10, 5) = 10 does not bind.
    let b = behavior(json!({"scaleUp": {"stabilizationWindowSeconds": 60}}));
    let mut h = ScalingHistory::with_recommendations(&[(5, ago(30))]);
    let n = h.normalize_with_behavior(now(), &b, 4, 10, 1, 100);
    assert_eq!((n.stabilized, n.replicas), (5, 5));
    // Scale-down window (default 300 s) holding 8 from 4 minutes ago: 8 → 3 is held at 8.
    let mut h = ScalingHistory::with_recommendations(&[(8, ago(240))]);
    let n = h.normalize_with_behavior(now(), &behavior(json!({})), 8, 3, 1, 100);
    assert_eq!(n.replicas, 8);
    // Five minutes later, only the 3 remains in the window.
    let later = now() + SignedDuration::from_mins(5);
    let n = h.normalize_with_behavior(later, &behavior(json!({})), 8, 3, 1, 100);
    assert_eq!(n.replicas, 3);
}
