use super::*;

use CustomMetricsVersion::{V1Beta1, V1Beta2};

#[test]
fn metric_value_lists_of_both_versions_decode() {
    let v1beta1 = br#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta1","metadata":{},
      "items":[{"describedObject":{"kind":"Pod","namespace":"prod","name":"web-1","apiVersion":"/v1"},
        "metricName":"http_requests","timestamp":"2026-05-01T10:20:30Z","window":30,"value":"1500m","selector":null},
       {"describedObject":{"kind":"Pod","namespace":"prod","name":"web-2","apiVersion":"/v1"},
        "metricName":"http_requests","timestamp":"2026-05-01T10:20:30Z","value":"1.0001","selector":null}]}"#;
    let items = parse_metric_value_list(v1beta1).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!((items[0].name.as_str(), items[0].value), ("web-1", 1500));
    assert_eq!(items[0].window_seconds, Some(30));
    assert_eq!(items[0].pod_value().window, SignedDuration::from_secs(30));
    // MilliValue rounds up: 1.0001 → 1001; no window → one minute.
    assert_eq!(items[1].value, 1001);
    assert_eq!(items[1].pod_value().window, SignedDuration::from_mins(1));
    assert_eq!(
        items[1].timestamp,
        "2026-05-01T10:20:30Z".parse::<Timestamp>().unwrap()
    );

    let v1beta2 = br#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2","metadata":{},
      "items":[{"describedObject":{"kind":"Deployment","namespace":"prod","name":"api","apiVersion":"apps/v1"},
        "metric":{"name":"qps","selector":null},"timestamp":"2026-05-01T10:20:30Z","windowSeconds":60,"value":"42"}]}"#;
    let items = parse_metric_value_list(v1beta2).unwrap();
    assert_eq!(
        (items[0].value, items[0].window_seconds),
        (42_000, Some(60))
    );

    // Without kind/apiVersion the client cannot decode anything; NaN is not a quantity.
    assert!(parse_metric_value_list(br#"{"items":[]}"#).is_err());
    let nan = br#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2",
      "items":[{"describedObject":{"name":"a"},"timestamp":null,"value":"NaN"}]}"#;
    assert!(parse_metric_value_list(nan).is_err());
}

#[test]
fn external_lists_decode() {
    let body = br#"{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},
      "items":[{"metricName":"q","metricLabels":{"queue":"orders"},"timestamp":"2026-05-01T10:20:15Z","value":"37"},
               {"metricName":"q","metricLabels":{},"timestamp":"2026-05-01T10:20:15Z","value":"3750m"}]}"#;
    let items = parse_external_metric_value_list(body).unwrap();
    assert_eq!(
        items[0].labels.get("queue").map(String::as_str),
        Some("orders")
    );
    assert_eq!(
        items.iter().map(|i| i.value).collect::<Vec<_>>(),
        vec![37_000, 3750]
    );
    assert!(parse_external_metric_value_list(&body[..20]).is_err());
}

#[test]
fn pod_metrics_sum_containers_and_skip_pods_missing_the_resource() {
    let body = br#"{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[
      {"metadata":{"name":"web-0","namespace":"prod"},"timestamp":"2026-05-01T10:20:12Z","window":"1m0s",
       "containers":[{"name":"app","usage":{"cpu":"250m","memory":"35840Ki"}},
                     {"name":"sidecar","usage":{"cpu":"123456789n","memory":"1Mi"}}]},
      {"metadata":{"name":"web-1","namespace":"prod"},"timestamp":"2026-05-01T10:20:12Z","window":"20.022s",
       "containers":[{"name":"app","usage":{"cpu":"1"}}]},
      {"metadata":{"name":"web-2","namespace":"prod"},"timestamp":"2026-05-01T10:20:12Z","window":"30s",
       "containers":[]}]}"#;
    let items = parse_pod_metrics_list(body).unwrap();
    assert_eq!(items[0].window, SignedDuration::from_mins(1));
    assert_eq!(items[1].window, SignedDuration::from_millis(20_022));

    // cpu: 250 + ceil(123.456789) = 374 for web-0, 1000 for web-1; web-2 has no containers.
    let cpu = pod_metrics_for(&items, "cpu", None).unwrap();
    let values: Vec<_> = cpu.iter().map(|(k, m)| (k.as_str(), m.milli)).collect();
    assert_eq!(values, vec![("web-0", 374), ("web-1", 1000)]);
    // memory: web-1's container lacks it, so web-1 is missing. 35840Ki + 1Mi in milli.
    let memory = pod_metrics_for(&items, "memory", None).unwrap();
    let values: Vec<_> = memory.iter().map(|(k, m)| (k.as_str(), m.milli)).collect();
    assert_eq!(values, vec![("web-0", (35840 * 1024 + 1_048_576) * 1000)]);
    // One container: web-2 lacks it altogether, which fails the whole metric.
    assert_eq!(
        pod_metrics_for(&items, "cpu", Some("app")),
        Err("container app not present in metrics for pod prod/web-2".to_owned())
    );
    let app = pod_metrics_for(&items[..2], "cpu", Some("app")).unwrap();
    assert_eq!(app.get("web-0").map(|m| m.milli), Some(250));
}

#[test]
fn the_custom_metrics_version_comes_from_discovery() {
    let apis = |preferred: &str, versions: &[&str]| {
        let versions: Vec<_> = versions
            .iter()
            .map(|v| serde_json::json!({"groupVersion": format!("custom.metrics.k8s.io/{v}"), "version": v}))
            .collect();
        serde_json::json!({"kind":"APIGroupList","apiVersion":"v1","groups":[
            {"name":"metrics.k8s.io","versions":[],"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}},
            {"name":"custom.metrics.k8s.io","versions":versions,
             "preferredVersion":{"groupVersion":format!("custom.metrics.k8s.io/{preferred}"),"version":preferred}}]})
        .to_string()
    };
    let parse = |body: String| preferred_custom_metrics_version(body.as_bytes());
    assert_eq!(parse(apis("v1beta2", &["v1beta2", "v1beta1"])), Ok(V1Beta2));
    assert_eq!(parse(apis("v1beta1", &["v1beta1", "v1beta2"])), Ok(V1Beta1));
    assert_eq!(parse(apis("v2", &["v2", "v1beta1"])), Ok(V1Beta1));
    assert!(parse(apis("v2", &["v2"])).is_err());
    assert!(preferred_custom_metrics_version(br#"{"groups":[]}"#).is_err());
}

#[test]
fn go_durations() {
    let ok = |s: &str| parse_go_duration(s).unwrap();
    assert_eq!(ok("1m0s"), SignedDuration::from_mins(1));
    assert_eq!(ok("5m0s"), SignedDuration::from_mins(5));
    assert_eq!(ok("20.022s"), SignedDuration::from_millis(20_022));
    assert_eq!(ok("1.5µs"), SignedDuration::from_nanos(1500));
    assert_eq!(ok("1h0m0s"), SignedDuration::from_hours(1));
    assert_eq!(ok("0s"), SignedDuration::ZERO);
    assert_eq!(ok("0"), SignedDuration::ZERO);
    assert_eq!(ok("-2h"), SignedDuration::from_hours(-2));
    for bad in ["", "1", "1x", "s", "1..s", "-", "1m 0s"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn errors_read_like_client_go() {
    let status = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
      "message":"the server could not find the metric http_requests for pods","reason":"NotFound","code":404}"#;
    assert_eq!(
        error_from_response(404, status),
        "the server could not find the metric http_requests for pods"
    );
    assert_eq!(
        error_from_response(404, b"404 page not found"),
        "the server could not find the requested resource"
    );
    assert_eq!(
        error_from_response(503, b"service unavailable"),
        "the server is currently unable to handle the request"
    );
    assert_eq!(
        error_from_response(500, b"boom\n"),
        r#"an error on the server ("boom") has prevented the request from succeeding"#
    );
    assert_eq!(
        error_from_response(418, b""),
        "the server responded with the status code 418 but did not return more information"
    );
}
