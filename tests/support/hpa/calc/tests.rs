//! Worked examples. Cases named `Go: TestXxx` are rows of kubernetes
//! `pkg/controller/podautoscaler/replica_calculator_test.go`; there every pod has two containers
//! (`numContainersPerPod = 2`), so a pod's usage is twice its level and its request twice the
//! listed request. All values are milli-units.

use super::*;

fn now() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().unwrap()
}

fn ago(seconds: i64) -> Timestamp {
    now() - SignedDuration::from_secs(seconds)
}

fn calc() -> ReplicaCalculator {
    ReplicaCalculator::at(now())
}

/// `n` running, ready pods `pod-0…`, started an hour ago.
fn pods(n: usize) -> Vec<PodState> {
    (0..n)
        .map(|i| PodState::running(&format!("pod-{i}"), ago(3600)))
        .collect()
}

/// Metrics for `pod-0…` with the given values, sampled now over one minute.
fn metrics(values: &[i64]) -> PodMetrics {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let metric = PodMetric {
                value: *v,
                timestamp: now(),
                window: SignedDuration::from_mins(1),
            };
            (format!("pod-{i}"), metric)
        })
        .collect()
}

/// Pods as in Go's table tests: two containers each requesting `request` of cpu.
fn cpu_pods(requests: &[i64]) -> Vec<PodState> {
    let mut pods = pods(requests.len());
    for (pod, request) in pods.iter_mut().zip(requests) {
        *pod = pod
            .clone()
            .with_request("c0", "cpu", *request)
            .with_request("c1", "cpu", *request);
    }
    pods
}

/// Metrics as in Go's table tests: each level counted for two containers.
fn cpu_metrics(levels: &[i64]) -> PodMetrics {
    metrics(&levels.iter().map(|l| 2 * l).collect::<Vec<_>>())
}

fn unready(mut pods: Vec<PodState>, which: &[usize]) -> Vec<PodState> {
    for i in which {
        pods[*i] = pods[*i]
            .clone()
            .with_ready(ConditionStatus::False, ago(3600));
    }
    pods
}

fn replicas(result: Result<Proposal, CalcError>) -> i32 {
    result.unwrap().replicas
}

#[test]
fn the_tolerance_band_is_inclusive() {
    let t = Tolerances::default();
    assert!(t.is_within(0.9) && t.is_within(1.0) && t.is_within(1.1));
    assert!(!t.is_within(0.899_999) && !t.is_within(1.100_001));
    let asymmetric = Tolerances {
        scale_down: 0.05,
        scale_up: 0.01,
    };
    assert!(asymmetric.is_within(0.95) && asymmetric.is_within(1.01));
    assert!(!asymmetric.is_within(0.94) && !asymmetric.is_within(1.02));
}

#[test]
fn pods_metric_scales_on_the_integer_average() {
    // Go: TestReplicaCalcScaleUpCM. avg = (20000+10000+30000)/3 = 20000; 20000/15000 = 1.333;
    // ceil(1.333 × 3) = 4.
    let p = calc()
        .replicas_for_pods_metric(3, 15000, metrics(&[20000, 10000, 30000]), &pods(3))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (4, 20000));

    // Go: TestReplicaCalcScaleDownCM. avg 12000; 12000/20000 = 0.6; ceil(0.6 × 5) = 3.
    let p = calc()
        .replicas_for_pods_metric(5, 20000, metrics(&[12000; 5]), &pods(5))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (3, 12000));

    // Go: TestReplicaCalcToleranceCM. avg = 62000/3 = 20666 (integer); 20666/20000 = 1.033,
    // within 0.1: keep 3.
    let p = calc()
        .replicas_for_pods_metric(3, 20000, metrics(&[20000, 21000, 21000]), &pods(3))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (3, 20666));

    // Integer division decides: avg = 3301/3 = 1100 (not 1100.33), ratio exactly 1.1, which is
    // inside the inclusive band: keep 3. One milli more on every pod (1101) leaves the band:
    // ceil(1.101 × 3) = 4.
    let within = metrics(&[1100, 1100, 1101]);
    assert_eq!(
        replicas(calc().replicas_for_pods_metric(3, 1000, within, &pods(3))),
        3
    );
    let above = metrics(&[1101, 1101, 1101]);
    assert_eq!(
        replicas(calc().replicas_for_pods_metric(3, 1000, above, &pods(3))),
        4
    );
}

#[test]
fn pods_metric_ignores_readiness_but_not_phase_or_deletion() {
    // Go: TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale. Readiness is only checked for cpu:
    // the unready third pod counts. avg = 90000/3 = 30000; ratio 2; ceil(2 × 3) = 6.
    let p = calc()
        .replicas_for_pods_metric(
            3,
            15000,
            metrics(&[50000, 10000, 30000]),
            &unready(pods(3), &[2]),
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (6, 30000));

    // Go: TestReplicaCalcScaleUpCMUnreadyandFailedScale. The failed fourth pod and its 10000 are
    // ignored: the same 6.
    let mut four = unready(pods(4), &[2]);
    four[3] = four[3].clone().with_phase(PodPhase::Failed);
    let p = calc()
        .replicas_for_pods_metric(3, 15000, metrics(&[50000, 10000, 30000, 10000]), &four)
        .unwrap();
    assert_eq!((p.replicas, p.usage), (6, 30000));

    // A pod being deleted is ignored the same way.
    let mut four = pods(4);
    four[3] = four[3].clone().deleting();
    assert_eq!(
        replicas(calc().replicas_for_pods_metric(
            3,
            15000,
            metrics(&[50000, 10000, 30000, 10000]),
            &four
        )),
        6
    );
}

#[test]
fn pending_pods_damp_a_scale_up() {
    // Three running pods at 12000, target 10000: ratio 1.2, ceil(1.2 × 3) = 4.
    assert_eq!(
        replicas(calc().replicas_for_pods_metric(3, 10000, metrics(&[12000; 3]), &pods(3))),
        4
    );
    // Add a Pending pod (unready): on a scale-up it is assumed at 0. New avg = 36000/4 = 9000,
    // ratio 0.9: the direction flips (1.2 → 0.9), so keep the current 4.
    let mut four = pods(4);
    four[3] = four[3].clone().with_phase(PodPhase::Pending);
    let p = calc()
        .replicas_for_pods_metric(4, 10000, metrics(&[12000; 3]), &four)
        .unwrap();
    assert_eq!((p.replicas, p.usage), (4, 12000));
}

#[test]
fn missing_pods_are_assumed_at_the_target_down_and_at_zero_up() {
    // Scale-down: 4 pods, metrics for 3 at 5000, target 10000: ratio 0.5. The missing pod is
    // assumed at the target: (15000 + 10000)/4 = 6250, ratio 0.625, ceil(0.625 × 4) = 3
    // (not ceil(0.5 × 3) = 2). The reported usage is still the first average, 5000.
    let p = calc()
        .replicas_for_pods_metric(4, 10000, metrics(&[5000; 3]), &pods(4))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (3, 5000));

    // Scale-up: 3 at 20000, target 10000: ratio 2. Missing at 0: 60000/4 = 15000, ratio 1.5,
    // ceil(1.5 × 4) = 6.
    assert_eq!(
        replicas(calc().replicas_for_pods_metric(4, 10000, metrics(&[20000; 3]), &pods(4))),
        6
    );

    // Exactly on target with a pod missing: Go's plain path treats missing pods as 0 whenever
    // the ratio is not below 1. 30000/4 = 7500, ratio 0.75, no direction flip from 1.0,
    // ceil(0.75 × 4) = 3, which does not exceed the current 4: 3.
    assert_eq!(
        replicas(calc().replicas_for_pods_metric(4, 10000, metrics(&[10000; 3]), &pods(4))),
        3
    );
}

#[test]
fn plain_metric_errors() {
    assert_eq!(
        calc().replicas_for_pods_metric(1, 10, metrics(&[1]), &[]),
        Err(CalcError(
            "no pods returned by selector while calculating replica count".into()
        ))
    );
    let mut one = pods(1);
    one[0] = one[0].clone().with_phase(PodPhase::Pending);
    assert_eq!(
        calc().replicas_for_pods_metric(1, 10, metrics(&[1]), &one),
        Err(CalcError(
            "did not receive metrics for targeted pods (pods might be unready)".into()
        ))
    );
}

#[test]
fn resource_utilization_matches_the_go_table() {
    let c = calc();
    let run = |current, requests: &[i64], levels: &[i64], target, pods: Vec<PodState>| {
        c.replicas_for_resource_utilization(
            current,
            target,
            "cpu",
            None,
            cpu_metrics(levels),
            &pods,
        )
        .map(|p| (p.replicas, p.utilization.unwrap_or(-1), p.usage))
        .unwrap_or_else(|e| panic!("{requests:?} {levels:?}: {e}"))
    };
    let r = [1000, 1000, 1000];

    // Go: TestReplicaCalcScaleUp. util = 2×1500×100/6000 = 50; 50/30 = 1.667; ceil(1.667×3) = 5.
    assert_eq!(
        run(3, &r, &[300, 500, 700], 30, cpu_pods(&r)),
        (5, 50, 1000)
    );

    // Go: TestReplicaCalcScaleUpUnreadyLessScale. pod-0 unready: util over pods 1-2 =
    // 2400×100/4000 = 60, ratio 2 > 1 with an unready pod, so it counts as 0:
    // 2400×100/6000 = 40, 40/30 = 1.333, ceil(1.333 × 3) = 4.
    let pods = unready(cpu_pods(&r), &[0]);
    assert_eq!(run(3, &r, &[300, 500, 700], 30, pods), (4, 60, 1200));

    // Go: TestReplicaCalcScaleDown. util = 2×1400×100/10000 = 28; 0.56; ceil(0.56 × 5) = 3.
    let r5 = [1000; 5];
    let levels = [100, 300, 500, 250, 250];
    assert_eq!(run(5, &r5, &levels, 50, cpu_pods(&r5)), (3, 28, 560));

    // Go: TestReplicaCalcScaleDownIgnoresUnreadyPods. pods 3-4 unready and dropped: util =
    // 1800×100/6000 = 30, 0.6; no scale-up, so ceil(0.6 × 3 ready) = 2.
    let pods = unready(cpu_pods(&r5), &[3, 4]);
    assert_eq!(run(5, &r5, &levels, 50, pods), (2, 30, 600));

    // Go: TestReplicaCalcScaleDownIgnoresDeletionPods. The same with pods 3-4 being deleted.
    let mut pods = cpu_pods(&r5);
    pods[3] = pods[3].clone().deleting();
    pods[4] = pods[4].clone().deleting();
    assert_eq!(run(5, &r5, &levels, 50, pods), (2, 30, 600));

    // Go: TestReplicaCalcTolerance. requests 2×(900+1000+1100) = 6000, usage 2×3060 = 6120:
    // util 102, ratio 1.02 within 0.1: keep 3.
    let r = [900, 1000, 1100];
    assert_eq!(
        run(3, &r, &[1010, 1030, 1020], 100, cpu_pods(&r)),
        (3, 102, 2040)
    );

    // Go: TestReplicaCalcSuperfluousMetrics. Six metrics, four pods: metrics of unknown pods are
    // skipped. util = 2×23500×100/8000 = 587; 5.87; ceil(5.87 × 4) = 24.
    let r4 = [1000; 4];
    let levels = [4000, 9500, 3000, 7000, 3200, 2000];
    assert_eq!(run(4, &r4, &levels, 100, cpu_pods(&r4)), (24, 587, 11750));
}

#[test]
fn resource_utilization_with_missing_metrics_matches_the_go_table() {
    let c = calc();
    let run = |current, requests: &[i64], levels: &[i64], target, pods: Vec<PodState>| {
        c.replicas_for_resource_utilization(
            current,
            target,
            "cpu",
            None,
            cpu_metrics(levels),
            &pods,
        )
        .map(|p| p.replicas)
        .unwrap_or_else(|e| panic!("{requests:?} {levels:?}: {e}"))
    };
    let r2 = [1000, 1000];
    // Go: TestReplicaCalcMissingMetricsNoChangeEq. util 100, ratio exactly 1: missing pod not
    // filled, new ratio 1 within: keep 2.
    assert_eq!(run(2, &r2, &[1000], 100, cpu_pods(&r2)), 2);
    // Go: TestReplicaCalcMissingMetricsNoChangeGt. util 190; missing at 0: 3800×100/4000 = 95,
    // 0.95 within: keep 2.
    assert_eq!(run(2, &r2, &[1900], 100, cpu_pods(&r2)), 2);
    // Go: TestReplicaCalcMissingMetricsNoChangeLt. util 60; missing at 100% of its 2000 request:
    // 3200×100/4000 = 80, 0.8, ceil(0.8 × 2) = 2.
    assert_eq!(run(2, &r2, &[600], 100, cpu_pods(&r2)), 2);

    let r3 = [1000; 3];
    // Go: TestReplicaCalcMissingMetricsUnreadyChange. pod-0 unready, pod-2 missing; util over
    // pod-1 = 900×100/2000 = 45, 0.9; missing at 100%: 2900×100/4000 = 72, 1.44 flips the
    // direction: keep 3.
    assert_eq!(
        run(3, &r3, &[100, 450], 50, unready(cpu_pods(&r3), &[0])),
        3
    );
    // Go: TestReplicaCalcMissingMetricsUnreadyScaleUp. util over pod-1 = 200, ratio 4; unready
    // and missing at 0: 4000×100/6000 = 66, 1.32, ceil(1.32 × 3) = 4.
    assert_eq!(
        run(3, &r3, &[100, 2000], 50, unready(cpu_pods(&r3), &[0])),
        4
    );
    // Go: TestReplicaCalcMissingMetricsUnreadyScaleDown. pod-0 unready, pods 1-2 at 200, pod-3
    // missing: util 400×100/4000 = 10, 0.2; missing at 100%: 2400×100/6000 = 40, 0.8,
    // ceil(0.8 × 3 counted) = 3.
    let r4 = [1000; 4];
    assert_eq!(
        run(4, &r4, &[100, 100, 100], 50, unready(cpu_pods(&r4), &[0])),
        3
    );
    // Go: TestReplicaCalcDuringRollingUpdateWithMaxSurge. A surge pod without metrics: util 10,
    // 0.2; missing at 100%: 2400×100/6000 = 40, 0.8, ceil(0.8 × 3) = 3 would scale *up* from 2
    // on a scale-down: keep 2.
    assert_eq!(run(2, &r3, &[100, 100], 50, cpu_pods(&r3)), 2);
}

#[test]
fn missing_pods_on_a_scale_down_use_the_target_when_it_is_above_100_percent() {
    // One container per pod requesting 1000; metrics 1000 for pods 0-1, pod-2 missing; target
    // 150%. util = 2000×100/2000 = 100, ratio 0.667. Missing at max(100,150)% of 1000 = 1500:
    // 3500×100/3000 = 116, 0.773, ceil(0.773 × 3) = 3 (with a 100% fallback it would be
    // 3000×100/3000 = 100, 0.667, ceil(2.0) = 2).
    let pods: Vec<_> = pods(3)
        .into_iter()
        .map(|p| p.with_request("app", "cpu", 1000))
        .collect();
    let p = calc()
        .replicas_for_resource_utilization(3, 150, "cpu", None, metrics(&[1000, 1000]), &pods)
        .unwrap();
    assert_eq!((p.replicas, p.utilization), (3, Some(100)));
}

#[test]
fn resource_errors() {
    // Pods without containers have no requests at all.
    let pods = pods(1);
    assert_eq!(
        calc().replicas_for_resource_utilization(1, 50, "cpu", None, metrics(&[200]), &pods),
        Err(CalcError("no metrics returned matched known pods".into()))
    );
    // Go: TestReplicaCalcEmptyCPURequest: a counted container without a cpu request.
    let pods = vec![
        PodState::running("pod-0", ago(3600))
            .with_request("app", "cpu", 500)
            .with_request("sidecar", "memory", 1000),
    ];
    assert_eq!(
        calc().replicas_for_resource_utilization(1, 50, "cpu", None, metrics(&[200]), &pods),
        Err(CalcError(
            "missing request for cpu in container sidecar of Pod pod-0".into()
        ))
    );
    // A ContainerResource metric only needs the named container's request: 200×100/500 = 40,
    // ratio 0.8, ceil(0.8 × 1) = 1.
    let p = calc()
        .replicas_for_resource_utilization(1, 50, "cpu", Some("app"), metrics(&[200]), &pods)
        .unwrap();
    assert_eq!((p.replicas, p.utilization), (1, Some(40)));
}

#[test]
fn pod_level_requests_replace_container_requests() {
    let mut pod = PodState::running("p", ago(3600)).with_request("app", "cpu", 100);
    pod.pod_requests.insert("cpu".into(), 2000);
    let all = requests_by_pod(std::slice::from_ref(&pod), None, "cpu").unwrap();
    assert_eq!(all.get("p"), Some(&2000));
    let one = requests_by_pod(&[pod], Some("app"), "cpu").unwrap();
    assert_eq!(one.get("p"), Some(&100));
}

#[test]
fn resource_average_value_uses_the_plain_rules() {
    // Memory AverageValue: avg = (600+400)/2 = 500 against 250: ratio 2, ceil(2 × 2) = 4.
    // Memory skips readiness, so the unready pod counts.
    let pods = unready(pods(2), &[1]);
    let p = calc()
        .replicas_for_resource_average_value(2, 250, "memory", metrics(&[600, 400]), &pods)
        .unwrap();
    assert_eq!((p.replicas, p.usage), (4, 500));
}

#[test]
fn cpu_readiness_during_and_after_the_initialization_period() {
    let c = calc();
    let metric = |pod: &str, sampled: Timestamp, window_s: i64| {
        PodMetrics::from([(
            pod.to_owned(),
            PodMetric {
                value: 100,
                timestamp: sampled,
                window: SignedDuration::from_secs(window_s),
            },
        )])
    };
    let group = |pod: PodState, metrics: PodMetrics, resource| {
        let g = c.group_pods(&[pod], &metrics, Some(resource));
        if g.ready_count == 1 {
            "ready"
        } else if !g.unready.is_empty() {
            "unready"
        } else {
            "other"
        }
    };

    // Started 2 min ago (inside the 5 min period), ready for 60 s. A sample taken 10 s ago over
    // 30 s starts after the transition (now-60s + 30s = now-30s ≤ now-10s): ready.
    let young = PodState::running("p", ago(120)).with_ready(ConditionStatus::True, ago(60));
    assert_eq!(
        group(young.clone(), metric("p", ago(10), 30), "cpu"),
        "ready"
    );
    // A sample at now-40s is before transition + window (now-30s): unready.
    assert_eq!(
        group(young.clone(), metric("p", ago(40), 30), "cpu"),
        "unready"
    );
    // Inside the period and not ready: unready.
    let young_unready = young.with_ready(ConditionStatus::False, ago(60));
    assert_eq!(
        group(young_unready.clone(), metric("p", ago(10), 30), "cpu"),
        "unready"
    );
    // Memory never looks at readiness.
    assert_eq!(
        group(young_unready, metric("p", ago(10), 30), "memory"),
        "ready"
    );

    // Started 10 min ago (past the period). Not ready since 10 s after start: it never became
    // ready within the 30 s delay (start + 30 s > transition): unready.
    let old = PodState::running("p", ago(600));
    let never_ready = old.clone().with_ready(ConditionStatus::False, ago(590));
    assert_eq!(
        group(never_ready, metric("p", ago(10), 30), "cpu"),
        "unready"
    );
    // Not ready since 5 min after start: it was ready once, so its metric counts.
    let was_ready = old.clone().with_ready(ConditionStatus::False, ago(300));
    assert_eq!(group(was_ready, metric("p", ago(10), 30), "cpu"), "ready");
    // Ready, past the period: the sample's age no longer matters.
    assert_eq!(
        group(old.clone(), metric("p", ago(10_000), 30), "cpu"),
        "ready"
    );

    // No Ready condition, or no start time: unready.
    let mut no_condition = old.clone();
    no_condition.ready = None;
    assert_eq!(
        group(no_condition, metric("p", ago(10), 30), "cpu"),
        "unready"
    );
    let mut no_start = old;
    no_start.start_time = None;
    assert_eq!(group(no_start, metric("p", ago(10), 30), "cpu"), "unready");
}

#[test]
fn object_value_targets_scale_on_ready_pods() {
    let c = calc();
    // Go: TestReplicaCalcScaleUpCMObject. 20000/15000 = 1.333; ceil(1.333 × 3 ready) = 4.
    let p = c
        .replicas_for_object_value(3, 20000, 15000, &pods(3))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (4, 20000));
    // Within tolerance: 16000/15000 = 1.067, keep 3.
    assert_eq!(
        replicas(c.replicas_for_object_value(3, 16000, 15000, &pods(3))),
        3
    );
    // Only Running pods with Ready=True count: one unready, one Pending, one ready. Ratio
    // 30000/10000 = 3, ceil(3 × 1) = 3.
    let mut mixed = unready(pods(3), &[0]);
    mixed[1] = mixed[1].clone().with_phase(PodPhase::Pending);
    assert_eq!(
        replicas(c.replicas_for_object_value(3, 30000, 10000, &mixed)),
        3
    );
    // From zero replicas: ceil(ratio) without tolerance or pods: ceil(20000/15000) = 2; a zero
    // value stays at 0.
    assert_eq!(
        replicas(c.replicas_for_object_value(0, 20000, 15000, &[])),
        2
    );
    assert_eq!(replicas(c.replicas_for_object_value(0, 0, 15000, &[])), 0);
    // No pods at all (and a change needed): an error.
    assert!(c.replicas_for_object_value(3, 30000, 10000, &[]).is_err());
}

#[test]
fn average_value_targets_use_status_replicas() {
    let c = calc();
    // Go: TestReplicaCalcScaleUpCMPerPodObject. 20000/(5000 × 3) = 1.333 leaves the band:
    // ceil(20000/5000) = 4; usage ceil(20000/3) = 6667.
    let p = c.replicas_for_object_average_value(3, 20000, 5000);
    assert_eq!((p.replicas, p.usage), (4, 6667));
    // 15500/(5000 × 3) = 1.033 within: keep 3; usage ceil(15500/3) = 5167.
    let p = c.replicas_for_object_average_value(3, 15500, 5000);
    assert_eq!((p.replicas, p.usage), (3, 5167));
    // Go: TestReplicaCalcScaleUpPerPodCMExternal. 8600/(2150 × 3) = 1.333: ceil(8600/2150) = 4;
    // usage ceil(8600/3) = 2867.
    let p = c.replicas_for_external_average_value(3, &[8600], 2150);
    assert_eq!((p.replicas, p.usage), (4, 2867));
    // External values are summed first: 5000 + 3600 = 8600, the same answer.
    let p = c.replicas_for_external_average_value(3, &[5000, 3600], 2150);
    assert_eq!((p.replicas, p.usage), (4, 2867));
}

#[test]
fn external_value_targets_sum_then_scale_like_objects() {
    let c = calc();
    // Go: TestReplicaCalcScaleUpCMExternal. 8600/4400 = 1.95; ceil(1.95 × 1 ready) = 2.
    let p = c
        .replicas_for_external_value(1, &[8600], 4400, &pods(1))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (2, 8600));
    // Summed: 3000 + 5600 = 8600.
    let p = c
        .replicas_for_external_value(1, &[3000, 5600], 4400, &pods(1))
        .unwrap();
    assert_eq!((p.replicas, p.usage), (2, 8600));
    // Go: TestReplicaCalcScaleDownCMExternal. 8600/14334 = 0.6; ceil(0.6 × 5) = 3.
    assert_eq!(
        replicas(c.replicas_for_external_value(5, &[8600], 14334, &pods(5))),
        3
    );
}
