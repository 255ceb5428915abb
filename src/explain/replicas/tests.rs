use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

/// The sync happens an hour after the pods started.
fn sync() -> Sync {
    Sync::at(at(3600), Tolerance::default())
}

fn pod(name: &str) -> PodInfo {
    PodInfo {
        name: name.into(),
        phase: PodPhase::Running,
        ready: Some((Readiness::Ready, Some(at(10)))),
        started: Some(at(0)),
        deleting: false,
        containers: vec![("main".into(), BTreeMap::new())],
        pod_requests: BTreeMap::new(),
    }
}

fn requesting(mut pod: PodInfo, resource: &str, milli: i64) -> PodInfo {
    if let Some((_, requests)) = pod.containers.first_mut() {
        requests.insert(resource.into(), milli);
    }
    pod
}

fn values(pairs: &[(&str, i64)]) -> BTreeMap<String, PodValue> {
    pairs
        .iter()
        .map(|(name, milli)| {
            (
                name.to_string(),
                PodValue {
                    milli: *milli,
                    timestamp: at(3590),
                    window: SignedDuration::from_mins(1),
                },
            )
        })
        .collect()
}

#[test]
fn the_tolerance_band_includes_its_bounds_and_comes_from_the_behavior() {
    let t = Tolerance::default();
    assert!(t.within(0.9) && t.within(1.1) && t.within(1.0));
    assert!(!t.within(0.899) && !t.within(1.101));
    let behavior = HorizontalPodAutoscalerBehavior {
        scale_up: Some(HPAScalingRules {
            tolerance: Some(K8sQuantity("50m".into())),
            ..Default::default()
        }),
        ..Default::default()
    };
    let own = Tolerance::of(Some(&behavior), DEFAULT_TOLERANCE);
    assert_eq!((own.down, own.up), (0.1, 0.05));
    assert!(own.within(0.91) && !own.within(1.06));
    assert_eq!(Tolerance::of(None, DEFAULT_TOLERANCE), Tolerance::default());
}

#[test]
fn pods_metrics_keep_the_count_within_tolerance_and_scale_on_the_ready_pods() {
    let pods: Vec<PodInfo> = ["a", "b", "c"].into_iter().map(pod).collect();
    // Average 5.333 against 5: ratio 1.067, within 0.1.
    let p = sync()
        .average_value(
            3,
            5000,
            &values(&[("a", 5000), ("b", 5000), ("c", 6000)]),
            &pods,
            None,
        )
        .unwrap();
    assert_eq!((p.replicas, p.current_milli), (3, 5333));
    assert!(
        p.detail.contains("within tolerance 0.1: keep 3"),
        "{}",
        p.detail
    );
    // Average 8 against 5: ceil(1.6 × 3) = 5.
    let p = sync()
        .average_value(
            3,
            5000,
            &values(&[("a", 8000), ("b", 8000), ("c", 8000)]),
            &pods,
            None,
        )
        .unwrap();
    assert_eq!((p.replicas, p.current_milli), (5, 8000));
    // The average is an integer division of milli-units: 10/3 = 3.333.
    let p = sync()
        .average_value(
            3,
            1000,
            &values(&[("a", 4), ("b", 3), ("c", 3)]),
            &pods,
            None,
        )
        .unwrap();
    assert_eq!(p.current_milli, 3);
}

#[test]
fn pods_without_a_value_count_as_the_target_on_a_scale_down_and_as_zero_on_a_scale_up() {
    let pods: Vec<PodInfo> = ["a", "b", "c", "d"].into_iter().map(pod).collect();
    // a, b at 2 against 5 (ratio 0.4); c, d missing, taken as 5: new average 3.5, ratio 0.7,
    // ceil(0.7 × 4) = 3.
    let p = sync()
        .average_value(4, 5000, &values(&[("a", 2000), ("b", 2000)]), &pods, None)
        .unwrap();
    assert_eq!(p.replicas, 3);
    assert!(
        p.detail.contains("2 pods without a value taken as 5"),
        "{}",
        p.detail
    );
    // a, b at 10 (ratio 2); c, d taken as 0: new ratio 1, within tolerance: keep 4.
    let p = sync()
        .average_value(4, 5000, &values(&[("a", 10000), ("b", 10000)]), &pods, None)
        .unwrap();
    assert_eq!(p.replicas, 4);
    // a, b at 20 (ratio 4): c, d as 0, new ratio 2: ceil(2 × 4) = 8.
    let p = sync()
        .average_value(4, 5000, &values(&[("a", 20000), ("b", 20000)]), &pods, None)
        .unwrap();
    assert_eq!(p.replicas, 8);
}

#[test]
fn pending_deleted_and_failed_pods() {
    let mut pending = pod("p");
    pending.phase = PodPhase::Pending;
    let mut deleting = pod("d");
    deleting.deleting = true;
    let mut failed = pod("f");
    failed.phase = PodPhase::Failed;
    let pods = vec![pod("a"), pod("b"), pending, deleting, failed];
    // The deleted and failed pods' values are ignored; a scale-up counts the pending pod as 0:
    // a, b at 15 against 10 (ratio 1.5), with p at 0: average 10, ratio 1: keep 2.
    let v = values(&[("a", 15000), ("b", 15000), ("d", 90000), ("f", 90000)]);
    let p = sync().average_value(2, 10000, &v, &pods, None).unwrap();
    assert_eq!(p.replicas, 2, "{}", p.detail);
    assert!(
        p.detail.contains("1 pod not ready taken as 0"),
        "{}",
        p.detail
    );
    // With only the ignored pods having values, there is nothing to go on.
    let v = values(&[("d", 1000), ("f", 1000)]);
    let e = sync()
        .average_value(2, 10000, &v, &pods[2..], None)
        .unwrap_err();
    assert_eq!(
        e,
        "did not receive metrics for targeted pods (pods might be unready)"
    );
    assert_eq!(
        sync().average_value(2, 10000, &v, &[], None).unwrap_err(),
        "no pods returned by selector while calculating replica count"
    );
}

#[test]
fn the_direction_never_flips_after_rebalancing() {
    let pods: Vec<PodInfo> = ["a", "b", "c"].into_iter().map(pod).collect();
    // a at 1 against 10 (ratio 0.1): b, c taken as 10, new average 7, ratio 0.7: ceil(2.1) = 3
    // is not below 3: keep.
    let p = sync()
        .average_value(2, 10000, &values(&[("a", 1000)]), &pods, None)
        .unwrap();
    assert_eq!(p.replicas, 2, "{}", p.detail);
    assert!(
        p.detail.contains("moves the other way: keep 2"),
        "{}",
        p.detail
    );
}

#[test]
fn cpu_utilization_as_the_controllers_tests_compute_it() {
    // kubernetes' TestReplicaCalcScaleUp: 300m, 500m, 700m of 1 core each against 30%:
    // 50% utilization, ceil(1.667 × 3) = 5.
    let pods: Vec<PodInfo> = ["a", "b", "c"]
        .into_iter()
        .map(|n| requesting(pod(n), "cpu", 1000))
        .collect();
    let v = values(&[("a", 300), ("b", 500), ("c", 700)]);
    let p = sync().utilization(3, 30, "cpu", None, &v, &pods).unwrap();
    assert_eq!(
        (p.replicas, p.utilization, p.current_milli),
        (5, Some(50), 500)
    );
    // TestReplicaCalcScaleDown: 5 pods at 100m, 300m, 500m, 250m, 250m of 1 core against 50%:
    // 28%, ceil(0.56 × 5) = 3.
    let pods: Vec<PodInfo> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|n| requesting(pod(n), "cpu", 1000))
        .collect();
    let v = values(&[("a", 100), ("b", 300), ("c", 500), ("d", 250), ("e", 250)]);
    let p = sync().utilization(5, 50, "cpu", None, &v, &pods).unwrap();
    assert_eq!((p.replicas, p.utilization), (3, Some(28)));
    // The percentage is truncated before the ratio: 333m of 1 core is 33%.
    let p = sync()
        .utilization(1, 33, "cpu", None, &values(&[("a", 333)]), &pods[..1])
        .unwrap();
    assert_eq!(p.utilization, Some(33));
    // A container without a request makes the metric invalid.
    let e = sync()
        .utilization(1, 50, "memory", None, &values(&[("a", 1)]), &pods[..1])
        .unwrap_err();
    assert_eq!(e, "missing request for memory in container main of Pod a");
}

#[test]
fn cpu_of_pods_that_never_became_ready_does_not_count() {
    // TestReplicaCalcScaleUpUnreadyLessScale: a never became ready (not ready 10 s after start,
    // long ago); b, c at 500m and 700m of 1 core against 30%: 60%, ratio 2 with a unready
    // taken as 0: 40%, ceil(1.333 × 3) = 4.
    let mut never = requesting(pod("a"), "cpu", 1000);
    never.ready = Some((Readiness::NotReady, Some(at(10))));
    let pods = vec![
        never,
        requesting(pod("b"), "cpu", 1000),
        requesting(pod("c"), "cpu", 1000),
    ];
    let v = values(&[("a", 300), ("b", 500), ("c", 700)]);
    let p = sync().utilization(3, 30, "cpu", None, &v, &pods).unwrap();
    assert_eq!((p.replicas, p.utilization), (4, Some(60)), "{}", p.detail);
    // A pod that became ready late (after the readiness delay) counts.
    let mut late = requesting(pod("a"), "cpu", 1000);
    late.ready = Some((Readiness::NotReady, Some(at(600))));
    let p = sync()
        .utilization(1, 30, "cpu", None, &values(&[("a", 300)]), &[late])
        .unwrap();
    assert_eq!(p.utilization, Some(30));
    // Within the initialization period, a value that does not cover a whole window since the
    // pod became ready does not count.
    let mut starting = requesting(pod("a"), "cpu", 1000);
    starting.started = Some(at(3500));
    starting.ready = Some((Readiness::Ready, Some(at(3580))));
    let e = sync()
        .utilization(
            1,
            30,
            "cpu",
            None,
            &values(&[("a", 300)]),
            &[starting.clone()],
        )
        .unwrap_err();
    assert!(e.contains("pods might be unready"), "{e}");
    // Memory does not look at readiness.
    let starting = requesting(starting, "memory", 1000);
    assert!(
        sync()
            .utilization(1, 30, "memory", None, &values(&[("a", 300)]), &[starting])
            .is_ok()
    );
}

#[test]
fn missing_pods_of_a_utilization_scale_down_use_their_request_or_the_target() {
    let pods: Vec<PodInfo> = ["a", "b"]
        .into_iter()
        .map(|n| requesting(pod(n), "cpu", 1000))
        .collect();
    // a at 100m against 50% (ratio 0.2); b missing, taken as 100% of its request: 55%, ratio
    // 1.1, within tolerance: keep 2.
    let p = sync()
        .utilization(2, 50, "cpu", None, &values(&[("a", 100)]), &pods)
        .unwrap();
    assert_eq!(p.replicas, 2, "{}", p.detail);
    assert!(p.detail.contains("100% of their request"), "{}", p.detail);
    // Against 150%, b is taken as 150% of its request: 125%, ratio 0.833, ceil(1.67) = 2.
    let p = sync()
        .utilization(2, 150, "cpu", None, &values(&[("a", 1000)]), &pods)
        .unwrap();
    assert!(p.detail.contains("150% of their request"), "{}", p.detail);
    assert_eq!(p.replicas, 2);
}

#[test]
fn object_and_external_values() {
    let pods = vec![pod("a"), pod("b")];
    // Value: 30 against 10 on 2 ready pods: ceil(3 × 2) = 6.
    let p = sync().value(2, 30000, 10000, &pods).unwrap();
    assert_eq!((p.replicas, p.current_milli), (6, 30000));
    // From 0 replicas: ceil(ratio).
    assert_eq!(sync().value(0, 25000, 10000, &[]).unwrap().replicas, 3);
    // Within tolerance, no pods needed.
    assert_eq!(sync().value(2, 10500, 10000, &[]).unwrap().replicas, 2);
    assert!(sync().value(2, 30000, 10000, &[]).is_err());
    // Only running, ready pods count.
    let mut unready = pod("c");
    unready.ready = Some((Readiness::NotReady, None));
    let p = sync()
        .value(3, 30000, 10000, &[pod("a"), pod("b"), unready])
        .unwrap();
    assert_eq!(p.replicas, 6);
    // AverageValue: 7 replicas' worth of 2 per pod: ceil(7 / 2) = 4; current is 7 / 3 → 2.334.
    let p = sync().average_of_value(3, 7000, 2000).unwrap();
    assert_eq!((p.replicas, p.current_milli), (4, 2334));
    let p = sync().average_of_value(3, 6100, 2000).unwrap();
    assert_eq!(p.replicas, 3, "{}", p.detail);
}

#[test]
fn the_largest_proposal_wins_unless_a_failure_would_allow_a_scale_down() {
    assert_eq!(decide(&[Some(3), Some(7), None], 4), Decision::Scale(7));
    assert!(matches!(decide(&[Some(2), None], 4), Decision::Hold(_)));
    assert!(matches!(decide(&[None, None], 4), Decision::Hold(_)));
    assert_eq!(decide(&[Some(4), None], 4), Decision::Scale(4));
    assert_eq!(decide(&[Some(2)], 4), Decision::Scale(2));
}

#[test]
fn counts_outside_the_bounds_are_fixed_before_the_metrics() {
    assert_eq!(before_metrics(0, 1, 10).map(|b| b.replicas), Some(0));
    assert_eq!(before_metrics(0, 0, 10), None);
    assert_eq!(before_metrics(12, 1, 10).map(|b| b.replicas), Some(10));
    assert_eq!(before_metrics(1, 2, 10).map(|b| b.replicas), Some(2));
    assert_eq!(before_metrics(5, 1, 10), None);
}

#[test]
fn without_behavior_a_step_doubles_at_most_and_stays_within_min_and_max() {
    assert_eq!(step(3, 20, 1, 50, None).replicas, 6);
    assert_eq!(step(1, 20, 1, 50, None).replicas, 4);
    assert_eq!(step(3, 20, 1, 5, None).replicas, 5);
    assert_eq!(step(3, 0, 2, 5, None).replicas, 2);
    let down = step(5, 3, 1, 10, None);
    assert_eq!(down.replicas, 3);
    assert!(down.notes[0].contains("highest recommendation of the last 300s"));
    assert!(step(3, 4, 1, 10, None).notes.is_empty());
}

fn policy(kind: &str, value: i32, period: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: kind.into(),
        value,
        period_seconds: period,
    }
}

#[test]
fn behavior_defaults_and_policies_limit_one_step() {
    let defaults = Behavior::of(&HorizontalPodAutoscalerBehavior::default(), 300);
    assert_eq!(defaults.up.stabilization_seconds, 0);
    assert_eq!(defaults.down.stabilization_seconds, 300);
    // Up by default: the larger of +4 pods and +100%.
    let s = step(3, 20, 1, 50, Some(&defaults));
    assert_eq!(s.replicas, 7);
    assert!(
        s.notes[0].contains("max of 4 pods per 15s → 7, 100% per 15s → 6"),
        "{:?}",
        s.notes
    );
    assert_eq!(step(10, 50, 1, 100, Some(&defaults)).replicas, 20);
    // Down by default: 100% per 15 s, so only minReplicas bounds it.
    let s = step(10, 1, 2, 100, Some(&defaults));
    assert_eq!(s.replicas, 2);
    assert!(s.notes[0].contains("300s"), "{:?}", s.notes);

    let spec = HorizontalPodAutoscalerBehavior {
        scale_up: Some(HPAScalingRules {
            select_policy: Some("Min".into()),
            stabilization_window_seconds: Some(60),
            policies: Some(vec![policy("Pods", 2, 60), policy("Percent", 50, 60)]),
            ..Default::default()
        }),
        scale_down: Some(HPAScalingRules {
            stabilization_window_seconds: Some(0),
            policies: Some(vec![policy("Percent", 10, 60), policy("Pods", 1, 60)]),
            ..Default::default()
        }),
    };
    let behavior = Behavior::of(&spec, 300);
    // Min of +2 (12) and +50% (15).
    let s = step(10, 30, 1, 100, Some(&behavior));
    assert_eq!(s.replicas, 12);
    assert!(s.notes[0].contains("lowest recommendation of the last 60s"));
    // Down, Max: the larger change of -10% (floor(22.5) = 22) and -1 pod (24): 22.
    assert_eq!(step(25, 1, 1, 100, Some(&behavior)).replicas, 22);
    assert!(step(25, 1, 1, 100, Some(&behavior)).notes[0].contains("22"));
    // maxReplicas is below the policy's limit.
    assert_eq!(step(10, 30, 1, 11, Some(&behavior)).replicas, 11);

    let disabled = Behavior::of(
        &HorizontalPodAutoscalerBehavior {
            scale_up: Some(HPAScalingRules {
                select_policy: Some("Disabled".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        300,
    );
    assert_eq!(step(3, 9, 1, 10, Some(&disabled)).replicas, 3);
    assert_eq!(step(3, 3, 1, 10, Some(&disabled)).replicas, 3);
}

mod controller;
