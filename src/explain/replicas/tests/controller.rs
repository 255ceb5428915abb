//! Worked examples of the controller's own tables. Cases named `Go: TestXxx` are rows of
//! kubernetes `pkg/controller/podautoscaler/replica_calculator_test.go` or `horizontal_test.go`;
//! in the calculator's tables every pod has two containers (`numContainersPerPod = 2`), so a
//! pod's usage is twice its level and its request twice the listed request. All values are
//! milli-units.

use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;

use super::super::*;

fn now() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().unwrap()
}

fn ago(seconds: i64) -> Timestamp {
    now() - SignedDuration::from_secs(seconds)
}

fn calc() -> Sync {
    Sync::at(now(), Tolerance::default())
}

/// A running pod, ready since `start`, without requests.
fn running(name: &str, start: Timestamp) -> PodInfo {
    PodInfo {
        name: name.to_owned(),
        phase: PodPhase::Running,
        ready: Some((Readiness::Ready, Some(start))),
        started: Some(start),
        deleting: false,
        containers: Vec::new(),
        pod_requests: BTreeMap::new(),
    }
}

/// The pod with its container `container` requesting `milli` of `resource`.
fn with_request(mut pod: PodInfo, container: &str, resource: &str, milli: i64) -> PodInfo {
    match pod
        .containers
        .iter_mut()
        .find(|(name, _)| name == container)
    {
        Some((_, requests)) => {
            requests.insert(resource.to_owned(), milli);
        }
        None => pod.containers.push((
            container.to_owned(),
            BTreeMap::from([(resource.to_owned(), milli)]),
        )),
    }
    pod
}

fn with_ready(mut pod: PodInfo, readiness: Readiness, since: Timestamp) -> PodInfo {
    pod.ready = Some((readiness, Some(since)));
    pod
}

fn with_phase(mut pod: PodInfo, phase: PodPhase) -> PodInfo {
    pod.phase = phase;
    pod
}

fn deleting(mut pod: PodInfo) -> PodInfo {
    pod.deleting = true;
    pod
}

/// `n` running, ready pods `pod-0…`, started an hour ago.
fn pods(n: usize) -> Vec<PodInfo> {
    (0..n)
        .map(|i| running(&format!("pod-{i}"), ago(3600)))
        .collect()
}

/// Values for `pod-0…`, sampled now over one minute.
fn metrics(values: &[i64]) -> BTreeMap<String, PodValue> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let value = PodValue {
                milli: *v,
                timestamp: now(),
                window: SignedDuration::from_mins(1),
            };
            (format!("pod-{i}"), value)
        })
        .collect()
}

/// Pods as in Go's table tests: two containers each requesting `request` of cpu.
fn cpu_pods(requests: &[i64]) -> Vec<PodInfo> {
    pods(requests.len())
        .into_iter()
        .zip(requests)
        .map(|(pod, request)| {
            let pod = with_request(pod, "c0", "cpu", *request);
            with_request(pod, "c1", "cpu", *request)
        })
        .collect()
}

/// Values as in Go's table tests: each level counted for two containers.
fn cpu_metrics(levels: &[i64]) -> BTreeMap<String, PodValue> {
    metrics(&levels.iter().map(|l| 2 * l).collect::<Vec<_>>())
}

fn unready(mut pods: Vec<PodInfo>, which: &[usize]) -> Vec<PodInfo> {
    for i in which {
        pods[*i] = with_ready(pods[*i].clone(), Readiness::NotReady, ago(3600));
    }
    pods
}

fn replicas(result: Result<Proposal, String>) -> i32 {
    result.unwrap().replicas
}

fn current(result: Result<Proposal, String>) -> (i32, i64) {
    let p = result.unwrap();
    (p.replicas, p.current_milli)
}

#[test]
fn the_tolerance_band_is_inclusive_per_direction() {
    let t = Tolerance::default();
    assert!(t.within(0.9) && t.within(1.0) && t.within(1.1));
    assert!(!t.within(0.899_999) && !t.within(1.100_001));
    let asymmetric = Tolerance {
        down: 0.05,
        up: 0.01,
    };
    assert!(asymmetric.within(0.95) && asymmetric.within(1.01));
    assert!(!asymmetric.within(0.94) && !asymmetric.within(1.02));
    // The controller's own default where the HPA sets none.
    assert_eq!(Tolerance::of(None, 0.2), Tolerance { down: 0.2, up: 0.2 });
}

#[test]
fn pods_metric_scales_on_the_integer_average() {
    // Go: TestReplicaCalcScaleUpCM. avg = (20000+10000+30000)/3 = 20000; 20000/15000 = 1.333;
    // ceil(1.333 × 3) = 4.
    let v = metrics(&[20000, 10000, 30000]);
    assert_eq!(
        current(calc().average_value(3, 15000, &v, &pods(3), None)),
        (4, 20000)
    );

    // Go: TestReplicaCalcScaleDownCM. avg 12000; 12000/20000 = 0.6; ceil(0.6 × 5) = 3.
    let v = metrics(&[12000; 5]);
    assert_eq!(
        current(calc().average_value(5, 20000, &v, &pods(5), None)),
        (3, 12000)
    );

    // Go: TestReplicaCalcToleranceCM. avg = 62000/3 = 20666 (integer); 20666/20000 = 1.033,
    // within 0.1: keep 3.
    let v = metrics(&[20000, 21000, 21000]);
    assert_eq!(
        current(calc().average_value(3, 20000, &v, &pods(3), None)),
        (3, 20666)
    );

    // Integer division decides: avg = 3301/3 = 1100 (not 1100.33), ratio exactly 1.1, which is
    // inside the inclusive band: keep 3. One milli more on every pod (1101) leaves the band:
    // ceil(1.101 × 3) = 4.
    let within = metrics(&[1100, 1100, 1101]);
    assert_eq!(
        replicas(calc().average_value(3, 1000, &within, &pods(3), None)),
        3
    );
    let above = metrics(&[1101, 1101, 1101]);
    assert_eq!(
        replicas(calc().average_value(3, 1000, &above, &pods(3), None)),
        4
    );
}

#[test]
fn sums_wrap_as_go_int64_arithmetic_does() {
    // GetMetricUsageRatio adds int64 values: MAX + 2 wraps to MIN + 1, then halves.
    let v = metrics(&[i64::MAX, 2]);
    let p = calc().average_value(2, 1000, &v, &pods(2), None).unwrap();
    assert_eq!(p.current_milli, i64::MAX.wrapping_add(2) / 2);
    assert!(p.current_milli < 0);
    // GetResourceUtilizationRatio multiplies the sum by 100 as an int64 and cuts to int32.
    let big = i64::MAX / 50;
    let pods = vec![with_request(
        running("pod-0", ago(3600)),
        "app",
        "cpu",
        1000,
    )];
    let p = calc()
        .utilization(1, 50, "cpu", None, &metrics(&[big]), &pods)
        .unwrap();
    assert_eq!(p.utilization, Some((big.wrapping_mul(100) / 1000) as i32));
    // External values are summed the same way.
    assert_eq!(external_total(&[i64::MAX, 1]), i64::MIN);
    assert_eq!(external_total(&[5000, 3600]), 8600);
}

#[test]
fn pods_metric_ignores_readiness_but_not_phase_or_deletion() {
    // Go: TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale. Readiness is only checked for cpu:
    // the unready third pod counts. avg = 90000/3 = 30000; ratio 2; ceil(2 × 3) = 6.
    let v = metrics(&[50000, 10000, 30000]);
    assert_eq!(
        current(calc().average_value(3, 15000, &v, &unready(pods(3), &[2]), None)),
        (6, 30000)
    );

    // Go: TestReplicaCalcScaleUpCMUnreadyandFailedScale. The failed fourth pod and its 10000 are
    // ignored: the same 6.
    let mut four = unready(pods(4), &[2]);
    four[3] = with_phase(four[3].clone(), PodPhase::Failed);
    let v = metrics(&[50000, 10000, 30000, 10000]);
    assert_eq!(
        current(calc().average_value(3, 15000, &v, &four, None)),
        (6, 30000)
    );

    // A pod being deleted is ignored the same way.
    let mut four = pods(4);
    four[3] = deleting(four[3].clone());
    assert_eq!(replicas(calc().average_value(3, 15000, &v, &four, None)), 6);
}

#[test]
fn pending_pods_damp_a_scale_up() {
    // Three running pods at 12000, target 10000: ratio 1.2, ceil(1.2 × 3) = 4.
    let v = metrics(&[12000; 3]);
    assert_eq!(
        replicas(calc().average_value(3, 10000, &v, &pods(3), None)),
        4
    );
    // Add a Pending pod (unready): on a scale-up it is assumed at 0. New avg = 36000/4 = 9000,
    // ratio 0.9: the direction flips (1.2 → 0.9), so keep the current 4.
    let mut four = pods(4);
    four[3] = with_phase(four[3].clone(), PodPhase::Pending);
    assert_eq!(
        current(calc().average_value(4, 10000, &v, &four, None)),
        (4, 12000)
    );
}

#[test]
fn missing_pods_are_assumed_at_the_target_down_and_at_zero_up() {
    // Scale-down: 4 pods, metrics for 3 at 5000, target 10000: ratio 0.5. The missing pod is
    // assumed at the target: (15000 + 10000)/4 = 6250, ratio 0.625, ceil(0.625 × 4) = 3
    // (not ceil(0.5 × 3) = 2). The reported usage is still the first average, 5000.
    let v = metrics(&[5000; 3]);
    assert_eq!(
        current(calc().average_value(4, 10000, &v, &pods(4), None)),
        (3, 5000)
    );

    // Scale-up: 3 at 20000, target 10000: ratio 2. Missing at 0: 60000/4 = 15000, ratio 1.5,
    // ceil(1.5 × 4) = 6.
    let v = metrics(&[20000; 3]);
    assert_eq!(
        replicas(calc().average_value(4, 10000, &v, &pods(4), None)),
        6
    );

    // Exactly on target with a pod missing: Go's plain path treats missing pods as 0 whenever
    // the ratio is not below 1. 30000/4 = 7500, ratio 0.75, no direction flip from 1.0,
    // ceil(0.75 × 4) = 3, which does not exceed the current 4: 3.
    let v = metrics(&[10000; 3]);
    let p = calc().average_value(4, 10000, &v, &pods(4), None).unwrap();
    assert_eq!(p.replicas, 3);
    assert!(
        p.detail.contains("1 pod without a value taken as 0"),
        "{}",
        p.detail
    );
}

#[test]
fn plain_metric_errors() {
    assert_eq!(
        calc().average_value(1, 10, &metrics(&[1]), &[], None),
        Err("no pods returned by selector while calculating replica count".into())
    );
    let one = vec![with_phase(pods(1)[0].clone(), PodPhase::Pending)];
    assert_eq!(
        calc().average_value(1, 10, &metrics(&[1]), &one, None),
        Err("did not receive metrics for targeted pods (pods might be unready)".into())
    );
}

#[test]
fn resource_utilization_matches_the_go_table() {
    let run = |current, levels: &[i64], target, pods: Vec<PodInfo>| {
        let p = calc()
            .utilization(current, target, "cpu", None, &cpu_metrics(levels), &pods)
            .unwrap_or_else(|e| panic!("{levels:?}: {e}"));
        (p.replicas, p.utilization.unwrap_or(-1), p.current_milli)
    };
    let r = [1000, 1000, 1000];

    // Go: TestReplicaCalcScaleUp. util = 2×1500×100/6000 = 50; 50/30 = 1.667; ceil(1.667×3) = 5.
    assert_eq!(run(3, &[300, 500, 700], 30, cpu_pods(&r)), (5, 50, 1000));

    // Go: TestReplicaCalcScaleUpUnreadyLessScale. pod-0 unready: util over pods 1-2 =
    // 2400×100/4000 = 60, ratio 2 > 1 with an unready pod, so it counts as 0:
    // 2400×100/6000 = 40, 40/30 = 1.333, ceil(1.333 × 3) = 4.
    let pods = unready(cpu_pods(&r), &[0]);
    assert_eq!(run(3, &[300, 500, 700], 30, pods), (4, 60, 1200));

    // Go: TestReplicaCalcScaleDown. util = 2×1400×100/10000 = 28; 0.56; ceil(0.56 × 5) = 3.
    let r5 = [1000; 5];
    let levels = [100, 300, 500, 250, 250];
    assert_eq!(run(5, &levels, 50, cpu_pods(&r5)), (3, 28, 560));

    // Go: TestReplicaCalcScaleDownIgnoresUnreadyPods. pods 3-4 unready and dropped: util =
    // 1800×100/6000 = 30, 0.6; no scale-up, so ceil(0.6 × 3 ready) = 2.
    let pods = unready(cpu_pods(&r5), &[3, 4]);
    assert_eq!(run(5, &levels, 50, pods), (2, 30, 600));

    // Go: TestReplicaCalcScaleDownIgnoresDeletionPods. The same with pods 3-4 being deleted.
    let mut pods = cpu_pods(&r5);
    pods[3] = deleting(pods[3].clone());
    pods[4] = deleting(pods[4].clone());
    assert_eq!(run(5, &levels, 50, pods), (2, 30, 600));

    // Go: TestReplicaCalcTolerance. requests 2×(900+1000+1100) = 6000, usage 2×3060 = 6120:
    // util 102, ratio 1.02 within 0.1: keep 3.
    let r = [900, 1000, 1100];
    assert_eq!(
        run(3, &[1010, 1030, 1020], 100, cpu_pods(&r)),
        (3, 102, 2040)
    );

    // Go: TestReplicaCalcSuperfluousMetrics. Six metrics, four pods: metrics of unknown pods are
    // skipped. util = 2×23500×100/8000 = 587; 5.87; ceil(5.87 × 4) = 24.
    let r4 = [1000; 4];
    let levels = [4000, 9500, 3000, 7000, 3200, 2000];
    assert_eq!(run(4, &levels, 100, cpu_pods(&r4)), (24, 587, 11750));
}

#[test]
fn resource_utilization_with_missing_metrics_matches_the_go_table() {
    let run = |current, levels: &[i64], target, pods: Vec<PodInfo>| {
        calc()
            .utilization(current, target, "cpu", None, &cpu_metrics(levels), &pods)
            .map(|p| p.replicas)
            .unwrap_or_else(|e| panic!("{levels:?}: {e}"))
    };
    let r2 = [1000, 1000];
    // Go: TestReplicaCalcMissingMetricsNoChangeEq. util 100, ratio exactly 1: missing pod not
    // filled, new ratio 1 within: keep 2.
    assert_eq!(run(2, &[1000], 100, cpu_pods(&r2)), 2);
    // Go: TestReplicaCalcMissingMetricsNoChangeGt. util 190; missing at 0: 3800×100/4000 = 95,
    // 0.95 within: keep 2.
    assert_eq!(run(2, &[1900], 100, cpu_pods(&r2)), 2);
    // Go: TestReplicaCalcMissingMetricsNoChangeLt. util 60; missing at 100% of its 2000 request:
    // 3200×100/4000 = 80, 0.8, ceil(0.8 × 2) = 2.
    assert_eq!(run(2, &[600], 100, cpu_pods(&r2)), 2);

    let r3 = [1000; 3];
    // Go: TestReplicaCalcMissingMetricsUnreadyChange. pod-0 unready, pod-2 missing; util over
    // pod-1 = 900×100/2000 = 45, 0.9; missing at 100%: 2900×100/4000 = 72, 1.44 flips the
    // direction: keep 3.
    assert_eq!(run(3, &[100, 450], 50, unready(cpu_pods(&r3), &[0])), 3);
    // Go: TestReplicaCalcMissingMetricsUnreadyScaleUp. util over pod-1 = 200, ratio 4; unready
    // and missing at 0: 4000×100/6000 = 66, 1.32, ceil(1.32 × 3) = 4.
    assert_eq!(run(3, &[100, 2000], 50, unready(cpu_pods(&r3), &[0])), 4);
    // Go: TestReplicaCalcMissingMetricsUnreadyScaleDown. pod-0 unready, pods 1-2 at 200, pod-3
    // missing: util 400×100/4000 = 10, 0.2; missing at 100%: 2400×100/6000 = 40, 0.8,
    // ceil(0.8 × 3 counted) = 3.
    let r4 = [1000; 4];
    assert_eq!(
        run(4, &[100, 100, 100], 50, unready(cpu_pods(&r4), &[0])),
        3
    );
    // Go: TestReplicaCalcDuringRollingUpdateWithMaxSurge. A surge pod without metrics: util 10,
    // 0.2; missing at 100%: 2400×100/6000 = 40, 0.8, ceil(0.8 × 3) = 3 would scale *up* from 2
    // on a scale-down: keep 2.
    assert_eq!(run(2, &[100, 100], 50, cpu_pods(&r3)), 2);
}

#[test]
fn missing_pods_on_a_scale_down_use_the_target_when_it_is_above_100_percent() {
    // One container per pod requesting 1000; metrics 1000 for pods 0-1, pod-2 missing; target
    // 150%. util = 2000×100/2000 = 100, ratio 0.667. Missing at max(100,150)% of 1000 = 1500:
    // 3500×100/3000 = 116, 0.773, ceil(0.773 × 3) = 3 (with a 100% fallback it would be
    // 3000×100/3000 = 100, 0.667, ceil(2.0) = 2).
    let pods: Vec<_> = pods(3)
        .into_iter()
        .map(|p| with_request(p, "app", "cpu", 1000))
        .collect();
    let p = calc()
        .utilization(3, 150, "cpu", None, &metrics(&[1000, 1000]), &pods)
        .unwrap();
    assert_eq!((p.replicas, p.utilization), (3, Some(100)));
}

#[test]
fn resource_errors() {
    // Pods without containers have no requests at all.
    assert_eq!(
        calc().utilization(1, 50, "cpu", None, &metrics(&[200]), &pods(1)),
        Err("no metrics returned matched known pods".into())
    );
    // Go: TestReplicaCalcEmptyCPURequest: a counted container without a cpu request.
    let pod = with_request(running("pod-0", ago(3600)), "app", "cpu", 500);
    let pods = vec![with_request(pod, "sidecar", "memory", 1000)];
    assert_eq!(
        calc().utilization(1, 50, "cpu", None, &metrics(&[200]), &pods),
        Err("missing request for cpu in container sidecar of Pod pod-0".into())
    );
    // A ContainerResource metric only needs the named container's request: 200×100/500 = 40,
    // ratio 0.8, ceil(0.8 × 1) = 1.
    let p = calc()
        .utilization(1, 50, "cpu", Some("app"), &metrics(&[200]), &pods)
        .unwrap();
    assert_eq!((p.replicas, p.utilization), (1, Some(40)));
}

#[test]
fn pod_level_requests_replace_container_requests() {
    let mut pod = with_request(running("p", ago(3600)), "app", "cpu", 100);
    pod.pod_requests.insert("cpu".into(), 2000);
    let all = requests_of(std::slice::from_ref(&pod), "cpu", None).unwrap();
    assert_eq!(all.get("p"), Some(&2000));
    let one = requests_of(&[pod], "cpu", Some("app")).unwrap();
    assert_eq!(one.get("p"), Some(&100));
}

#[test]
fn resource_average_value_uses_the_plain_rules() {
    // Memory AverageValue: avg = (600+400)/2 = 500 against 250: ratio 2, ceil(2 × 2) = 4.
    // Memory skips readiness, so the unready pod counts.
    let pods = unready(pods(2), &[1]);
    let v = metrics(&[600, 400]);
    assert_eq!(
        current(calc().average_value(2, 250, &v, &pods, Some("memory"))),
        (4, 500)
    );
}

#[test]
fn cpu_readiness_during_and_after_the_initialization_period() {
    let value = |pod: &str, sampled: Timestamp, window_s: i64| {
        BTreeMap::from([(
            pod.to_owned(),
            PodValue {
                milli: 100,
                timestamp: sampled,
                window: SignedDuration::from_secs(window_s),
            },
        )])
    };
    let group = |pod: PodInfo, values: BTreeMap<String, PodValue>, resource: &str| {
        let counted = calc().count(&[pod], &values, resource == "cpu");
        if counted.ready == 1 {
            "ready"
        } else if !counted.unready.is_empty() {
            "unready"
        } else {
            "other"
        }
    };

    // Started 2 min ago (inside the 5 min period), ready for 60 s. A sample taken 10 s ago over
    // 30 s starts after the transition (now-60s + 30s = now-30s ≤ now-10s): ready.
    let young = with_ready(running("p", ago(120)), Readiness::Ready, ago(60));
    assert_eq!(
        group(young.clone(), value("p", ago(10), 30), "cpu"),
        "ready"
    );
    // A sample at now-40s is before transition + window (now-30s): unready.
    assert_eq!(
        group(young.clone(), value("p", ago(40), 30), "cpu"),
        "unready"
    );
    // Inside the period and not ready: unready.
    let young_unready = with_ready(young, Readiness::NotReady, ago(60));
    assert_eq!(
        group(young_unready.clone(), value("p", ago(10), 30), "cpu"),
        "unready"
    );
    // Memory never looks at readiness.
    assert_eq!(
        group(young_unready, value("p", ago(10), 30), "memory"),
        "ready"
    );

    // Started 10 min ago (past the period). Not ready since 10 s after start: it never became
    // ready within the 30 s delay (start + 30 s > transition): unready.
    let old = running("p", ago(600));
    let never_ready = with_ready(old.clone(), Readiness::NotReady, ago(590));
    assert_eq!(
        group(never_ready, value("p", ago(10), 30), "cpu"),
        "unready"
    );
    // Not ready since 5 min after start: it was ready once, so its value counts.
    let was_ready = with_ready(old.clone(), Readiness::NotReady, ago(300));
    assert_eq!(group(was_ready, value("p", ago(10), 30), "cpu"), "ready");
    // Ready, past the period: the sample's age no longer matters.
    assert_eq!(
        group(old.clone(), value("p", ago(10_000), 30), "cpu"),
        "ready"
    );
    // A Ready condition without a transition time is Go's zero time: long before the start.
    let mut zero = old.clone();
    zero.ready = Some((Readiness::NotReady, None));
    assert_eq!(group(zero, value("p", ago(10), 30), "cpu"), "unready");

    // No Ready condition, or no start time: unready.
    let mut no_condition = old.clone();
    no_condition.ready = None;
    assert_eq!(
        group(no_condition, value("p", ago(10), 30), "cpu"),
        "unready"
    );
    let mut no_start = old;
    no_start.started = None;
    assert_eq!(group(no_start, value("p", ago(10), 30), "cpu"), "unready");
}

#[test]
fn object_value_targets_scale_on_ready_pods() {
    // Go: TestReplicaCalcScaleUpCMObject. 20000/15000 = 1.333; ceil(1.333 × 3 ready) = 4.
    assert_eq!(current(calc().value(3, 20000, 15000, &pods(3))), (4, 20000));
    // Within tolerance: 16000/15000 = 1.067, keep 3.
    assert_eq!(replicas(calc().value(3, 16000, 15000, &pods(3))), 3);
    // Only Running pods with Ready=True count: one unready, one Pending, one ready. Ratio
    // 30000/10000 = 3, ceil(3 × 1) = 3.
    let mut mixed = unready(pods(3), &[0]);
    mixed[1] = with_phase(mixed[1].clone(), PodPhase::Pending);
    assert_eq!(replicas(calc().value(3, 30000, 10000, &mixed)), 3);
    // From zero replicas: ceil(ratio) without tolerance or pods: ceil(20000/15000) = 2; a zero
    // value stays at 0.
    assert_eq!(replicas(calc().value(0, 20000, 15000, &[])), 2);
    assert_eq!(replicas(calc().value(0, 0, 15000, &[])), 0);
    // No pods at all (and a change needed): an error.
    assert!(calc().value(3, 30000, 10000, &[]).is_err());
}

#[test]
fn average_value_targets_use_status_replicas() {
    // Go: TestReplicaCalcScaleUpCMPerPodObject. 20000/(5000 × 3) = 1.333 leaves the band:
    // ceil(20000/5000) = 4; usage ceil(20000/3) = 6667.
    assert_eq!(current(calc().average_of_value(3, 20000, 5000)), (4, 6667));
    // 15500/(5000 × 3) = 1.033 within: keep 3; usage ceil(15500/3) = 5167.
    assert_eq!(current(calc().average_of_value(3, 15500, 5000)), (3, 5167));
    // Go: TestReplicaCalcScaleUpPerPodCMExternal. 8600/(2150 × 3) = 1.333: ceil(8600/2150) = 4;
    // usage ceil(8600/3) = 2867.
    let total = external_total(&[8600]);
    assert_eq!(current(calc().average_of_value(3, total, 2150)), (4, 2867));
    // External values are summed first: 5000 + 3600 = 8600, the same answer.
    let total = external_total(&[5000, 3600]);
    assert_eq!(current(calc().average_of_value(3, total, 2150)), (4, 2867));
}

#[test]
fn external_value_targets_sum_then_scale_like_objects() {
    // Go: TestReplicaCalcScaleUpCMExternal. 8600/4400 = 1.95; ceil(1.95 × 1 ready) = 2.
    let total = external_total(&[8600]);
    assert_eq!(current(calc().value(1, total, 4400, &pods(1))), (2, 8600));
    // Summed: 3000 + 5600 = 8600.
    let total = external_total(&[3000, 5600]);
    assert_eq!(current(calc().value(1, total, 4400, &pods(1))), (2, 8600));
    // Go: TestReplicaCalcScaleDownCMExternal. 8600/14334 = 0.6; ceil(0.6 × 5) = 3.
    assert_eq!(
        replicas(calc().value(5, external_total(&[8600]), 14334, &pods(5))),
        3
    );
}

#[test]
fn a_proposal_replaces_a_zero_even_when_it_is_lower() {
    // Go keeps `replicas` at 0 until a proposal replaces it, and any proposal replaces a 0.
    assert_eq!(decide(&[Some(0), Some(-2)], 0), Decision::Scale(-2));
    assert_eq!(decide(&[Some(-5), Some(-3)], -5), Decision::Scale(-3));
    assert!(matches!(decide(&[], 1), Decision::Hold(_)));
}

#[test]
fn bounds_before_the_metrics_name_the_condition() {
    let reason = |current, min, max| before_metrics(current, min, max).map(|f| f.reason);
    assert_eq!(reason(0, 1, 10), Some("ScalingDisabled"));
    assert_eq!(reason(12, 1, 10), Some("TooManyReplicas"));
    assert_eq!(reason(1, 2, 10), Some("TooFewReplicas"));
    assert_eq!(reason(0, 0, 10), None);
}

#[test]
fn legacy_limits_double_or_add_four_and_respect_min_and_max() {
    let limit = |current, desired, min, max| {
        let l = limit_legacy(current, desired, min, max);
        (l.replicas, l.reason)
    };
    // max(2 × 3, 4) = 6 caps a proposal of 10 when maxReplicas is 100.
    assert_eq!(limit(3, 10, 1, 100), (6, "ScaleUpLimit"));
    // From 1: max(2, 4) = 4.
    assert_eq!(limit(1, 10, 1, 100), (4, "ScaleUpLimit"));
    // maxReplicas 5 is below the scale-up limit 6.
    assert_eq!(limit(3, 10, 1, 5), (5, "TooManyReplicas"));
    // Below minReplicas.
    assert_eq!(limit(3, 0, 2, 5), (2, "TooFewReplicas"));
    // Scale-down is not rate limited.
    assert_eq!(limit(10, 1, 1, 10), (1, "DesiredWithinRange"));
    // Go: TestUpscaleCap without behavior would be capped at max(2 × 3, 4) = 6 of a wanted 24.
    assert_eq!(limit(3, 24, 1, 100), (6, "ScaleUpLimit"));
}

fn behavior(up: Option<HPAScalingRules>, down: Option<HPAScalingRules>) -> Behavior {
    Behavior::of(
        &HorizontalPodAutoscalerBehavior {
            scale_up: up,
            scale_down: down,
        },
        300,
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

/// The limits of one step with no scale events in the policies' periods.
fn limit(b: &Behavior, current: i32, desired: i32, min: i32, max: i32) -> (i32, &'static str) {
    let l = limit_with_behavior(current, desired, min, max, b, &|_| current);
    (l.replicas, l.reason)
}

#[test]
fn behavior_defaults_are_the_api_defaults() {
    let b = behavior(None, None);
    assert_eq!(b.up.stabilization_seconds, 0);
    assert_eq!(b.up.select, Select::Max);
    let policy = |kind, value| Policy {
        kind,
        value,
        period_seconds: 15,
    };
    assert_eq!(
        b.up.policies,
        vec![
            policy(PolicyType::Pods, 4),
            policy(PolicyType::Percent, 100)
        ]
    );
    assert_eq!(b.down.stabilization_seconds, 300);
    assert_eq!(b.down.policies, vec![policy(PolicyType::Percent, 100)]);
    // Only the unset fields are filled; the controller's window is the scale-down default.
    let b = Behavior::of(
        &HorizontalPodAutoscalerBehavior {
            scale_up: Some(rules(Some(60), None, &[])),
            scale_down: Some(rules(None, Some("Disabled"), &[])),
        },
        120,
    );
    assert_eq!(b.up.stabilization_seconds, 60);
    assert_eq!(b.up.policies.len(), 2);
    assert_eq!(b.down.select, Select::Disabled);
    assert_eq!(b.down.stabilization_seconds, 120);
    // A policy list the spec sets replaces the defaults, unknown types included.
    let b = behavior(Some(rules(None, None, &[("Replicas", 1, 60)])), None);
    assert_eq!(
        b.up.policies,
        vec![Policy {
            kind: PolicyType::Unknown,
            value: 1,
            period_seconds: 60
        }]
    );
}

#[test]
fn default_behavior_rate_limits_scale_up() {
    let b = behavior(None, None);
    // From 3 with no recent events: Pods 3 + 4 = 7, Percent ceil(3 × 2) = 6; Max picks 7.
    assert_eq!(limit(&b, 3, 20, 1, 100), (7, "ScaleUpLimit"));
    // From 10: Pods 14, Percent 20: 20.
    assert_eq!(limit(&b, 10, 50, 1, 100).0, 20);
    // maxReplicas below the rate limit.
    assert_eq!(limit(&b, 10, 50, 1, 12), (12, "TooManyReplicas"));
    // Go: TestUpscaleCap: one Percent 700 / 60 s policy lets 3 become ceil(3 × 8) = 24.
    let cap = behavior(Some(rules(Some(0), None, &[("Percent", 700, 60)])), None);
    assert_eq!(limit(&cap, 3, 24, 1, 100).0, 24);
    // Go: TestUpscaleCapGreaterThanMaxReplicas: the same with maxReplicas 20.
    assert_eq!(limit(&cap, 3, 24, 1, 20), (20, "TooManyReplicas"));
}

#[test]
fn policies_count_from_the_start_of_their_period() {
    // 3 → 6 within the period: it started at 3, so Pods allows 7 and Percent 6: 7.
    let b = behavior(None, None);
    let l = limit_with_behavior(6, 20, 1, 100, &b, &|_| 3);
    assert_eq!((l.replicas, l.reason), (7, "ScaleUpLimit"));
    // Scaled down 10 → 9 within a one-pod-per-minute period: it started at 10, so the limit is
    // 10 - 1 = 9 and a proposal of 2 stays at 9.
    let down = behavior(None, Some(rules(Some(0), None, &[("Pods", 1, 60)])));
    let l = limit_with_behavior(9, 2, 1, 20, &down, &|_| 10);
    assert_eq!((l.replicas, l.reason), (9, "ScaleDownLimit"));
    // A limit below the current count (the period's scaling used up) holds the count.
    let l = limit_with_behavior(8, 20, 1, 100, &b, &|_| 2);
    assert_eq!(l.replicas, 8);
}

#[test]
fn scale_down_policies_and_select_policy() {
    // Percent 50 / 60 s from 5: floor(5 × 0.5) = 2 (Go truncates on the way down).
    let half = behavior(None, Some(rules(Some(0), None, &[("Percent", 50, 60)])));
    assert_eq!(limit(&half, 5, 1, 1, 20), (2, "ScaleDownLimit"));

    // Disabled: no scale-down at all.
    let off = behavior(None, Some(rules(Some(0), Some("Disabled"), &[])));
    assert_eq!(limit(&off, 10, 2, 1, 20).0, 10);

    // Min on scale-up picks the smaller change: from 3, min(7, 6) = 6.
    let min = behavior(Some(rules(None, Some("Min"), &[])), None);
    assert_eq!(limit(&min, 3, 20, 1, 100).0, 6);

    // The default scale-down policy (100 %) only stops at minReplicas.
    assert_eq!(
        limit(&behavior(None, None), 10, 0, 2, 20),
        (2, "TooFewReplicas")
    );
}

#[test]
fn unknown_policy_types_repeat_the_previous_proposal_and_no_policies_bound_nothing() {
    // Go's loop keeps `proposed` from the policy before an unknown one: Pods +1 proposes 4,
    // the unknown one 4 again; Min of them is 4.
    let mut b = behavior(
        Some(rules(
            None,
            Some("Min"),
            &[("Pods", 1, 15), ("Replicas", 9, 15)],
        )),
        None,
    );
    assert_eq!(limit(&b, 3, 20, 1, 100), (4, "ScaleUpLimit"));
    // First in the list, an unknown type proposes 0, which a Max never picks over current.
    b.up.policies.reverse();
    b.up.select = Select::Max;
    assert_eq!(limit(&b, 3, 20, 1, 100), (4, "ScaleUpLimit"));
    // Without policies, Min starts from MaxInt32 and only maxReplicas bounds a scale-up; Max
    // starts from MinInt32 and holds the count.
    b.up.policies.clear();
    b.up.select = Select::Min;
    assert_eq!(limit(&b, 3, 20, 1, 100), (20, "DesiredWithinRange"));
    b.up.select = Select::Max;
    assert_eq!(limit(&b, 3, 20, 1, 100), (3, "ScaleUpLimit"));
}

#[test]
fn pod_usage_sums_containers_or_reads_the_named_one() {
    let two = [("app", Some(250)), ("sidecar", Some(124))];
    assert_eq!(pod_usage("prod", "web-0", &two, None), Ok(Some(374)));
    assert_eq!(pod_usage("prod", "web-0", &two, Some("app")), Ok(Some(250)));
    // A container without the resource leaves the pod out; so does a pod without containers.
    let partial = [("app", Some(1000)), ("sidecar", None)];
    assert_eq!(pod_usage("prod", "web-1", &partial, None), Ok(None));
    assert_eq!(
        pod_usage("prod", "web-1", &partial, Some("sidecar")),
        Ok(None)
    );
    assert_eq!(pod_usage("prod", "web-2", &[], None), Ok(None));
    // A pod without the named container fails the metric.
    assert_eq!(
        pod_usage("prod", "web-2", &[], Some("app")),
        Err("container app not present in metrics for pod prod/web-2".into())
    );
    // The sum is an int64 that wraps.
    let huge = [("a", Some(i64::MAX)), ("b", Some(1))];
    assert_eq!(pod_usage("prod", "web-3", &huge, None), Ok(Some(i64::MIN)));
}

#[test]
fn value_metrics_share_by_status_replicas_or_scale_on_ready_pods() {
    // AverageValue: 20000 over 3 status replicas against 5000 each: ceil(20000/5000) = 4,
    // whatever spec.replicas (5) says.
    let per_pod = calc().value_metric(true, 5, 3, 20000, 5000, &pods(3));
    assert_eq!(current(per_pod), (4, 6667));
    // Value: from spec.replicas 5 on 3 ready pods, 20000/15000 = 1.333: ceil(1.333 × 3) = 4.
    let value = calc().value_metric(false, 5, 3, 20000, 15000, &pods(3));
    assert_eq!(current(value), (4, 20000));
}
