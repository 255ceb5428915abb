use super::*;

fn sample(pod: &str, value: f64) -> Sample {
    Sample {
        labels: [("pod", pod)].into_iter().collect(),
        value,
        timestamp: 1_700_000_000.0,
    }
}

#[test]
fn values_follow_the_objects_order_and_leave_out_what_has_no_usable_sample() {
    let names: Vec<String> = ["web-2", "web-0", "web-1", "web-3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let samples = [
        sample("web-0", 4.0),
        sample("web-1", 1.005),
        sample("web-0", 2.5),
        sample("web-2", f64::NAN),
        sample("web-3", f64::INFINITY),
        sample("not-asked", 9.0),
        Sample {
            labels: Default::default(),
            value: 1.0,
            timestamp: 0.0,
        },
    ];
    assert_eq!(
        values_in_order(&names, &samples, "pod", "requests"),
        [
            // The last sample of a name wins (prometheus-adapter's map overwrite).
            ("web-0".to_string(), "2500m".to_string()),
            // Rounded to the nearest milli-unit.
            ("web-1".to_string(), "1005m".to_string()),
        ]
    );
    assert!(values_in_order(&names, &samples, "instance", "requests").is_empty());
}
