use super::*;

fn pod(name: &str) -> Arc<ObjectMeta> {
    Arc::new(ObjectMeta {
        namespace: Some("speech".into()),
        name: name.into(),
        labels: [("app".to_string(), "asr".to_string())].into(),
    })
}

fn values(entries: &[(&str, &str, &str, f64)]) -> ContainerValues {
    entries
        .iter()
        .map(|(pod, container, value, ts)| {
            (
                (pod.to_string(), container.to_string()),
                (value.to_string(), *ts),
            )
        })
        .collect()
}

#[test]
fn pods_get_their_containers_values_as_metrics_server_reports_them() {
    let pods = [pod("asr-0"), pod("asr-1"), pod("asr-2"), pod("asr-3")];
    let cpu = values(&[
        ("asr-0", "asr", "250m", 1_700_000_010.0),
        ("asr-0", "sidecar", "50m", 1_700_000_012.0),
        ("asr-1", "asr", "500m", 1_700_000_010.0),
        ("asr-3", "asr", "1", 1_700_000_010.0),
        ("elsewhere", "x", "1", 1_700_000_010.0),
    ]);
    let memory = values(&[
        ("asr-0", "asr", "100Mi", 1_700_000_005.9),
        ("asr-1", "asr", "1536Ki", 1_700_000_010.0),
        ("asr-2", "asr", "1Ki", 1_700_000_010.0),
    ]);
    let metrics = pod_metrics_of("speech", &pods, &cpu, &memory, Duration::from_secs(300));
    // asr-2 has no CPU sample and asr-3 no memory sample: left out, as starting pods are.
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["asr-0", "asr-1"]);
    let asr0 = &metrics[0];
    assert_eq!(asr0.namespace, "speech");
    assert_eq!(asr0.labels["app"], "asr");
    assert_eq!(asr0.window, Duration::from_secs(300));
    // The earliest sample, truncated to the second.
    assert_eq!(asr0.timestamp.as_second(), 1_700_000_005);
    // Containers sorted by name; one without memory reports 0.
    assert_eq!(
        asr0.containers,
        [
            ContainerUsage {
                name: "asr".into(),
                cpu: "250m".into(),
                memory: "100Mi".into()
            },
            ContainerUsage {
                name: "sidecar".into(),
                cpu: "50m".into(),
                memory: "0".into()
            },
        ]
    );
}

#[test]
fn metrics_server_values_count_nan_and_negatives_as_zero_and_drop_infinities() {
    let sample = |value: f64| Sample {
        labels: Default::default(),
        value,
        timestamp: 0.0,
    };
    assert_eq!(
        usage(&sample(0.25), Format::DecimalSI).as_deref(),
        Some("250m")
    );
    assert_eq!(
        usage(&sample(f64::NAN), Format::DecimalSI).as_deref(),
        Some("0")
    );
    assert_eq!(usage(&sample(-3.0), Format::BinarySI).as_deref(), Some("0"));
    assert_eq!(usage(&sample(f64::INFINITY), Format::DecimalSI), None);
    assert_eq!(
        usage(&sample(1536.0 * 1024.0), Format::BinarySI).as_deref(),
        Some("1536Ki")
    );
}
