//! What an operator sees of a running adapter: its own metrics on `/metrics` (authorized as a
//! non-resource path, as upstream does), and one log line per request, as text or JSON.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::adapter::Adapter;
use crate::support::world::{ASR_RULES, World};

const METRIC: &str =
    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests";

/// The metric names of an OpenMetrics text (`# TYPE <name> <type>`), counters with `_total`.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (name, kind) = (parts.next()?, parts.next()?);
            Some(if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_exports_its_own_metrics_and_logs_each_request() {
    let world = World::asr(3.0, |_, _| {}).await;
    let adapter = world
        .adapter(Adapter::builder(ASR_RULES).arg("--log-format=json"))
        .await;
    let answer = adapter
        .client()
        .get(format!("{}{METRIC}", adapter.url()))
        .header("Audit-ID", "3b1f0c1e-audit")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let (status, _) = adapter
        .get("/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/nope")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    adapter
        .get_ok("/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr")
        .await;

    let response = adapter
        .client()
        .get(format!("{}/metrics", adapter.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    let names = families(&text);
    for expected in [
        "metrics_adapter_build_info",
        "metrics_adapter_requests_total",
        "metrics_adapter_request_duration_seconds",
        "metrics_adapter_requests_in_flight",
        "metrics_adapter_prometheus_calls_total",
        "metrics_adapter_prometheus_call_duration_seconds",
        "metrics_adapter_prometheus_received_bytes_total",
        "metrics_adapter_prometheus_coalesced_queries_total",
        "metrics_adapter_relist_duration_seconds",
        "metrics_adapter_relist_last_success_timestamp_seconds",
        "metrics_adapter_relist_failures_total",
        "metrics_adapter_relist_series",
        "metrics_adapter_registered_metrics",
        "metrics_adapter_on_miss_lookups_total",
        "metrics_adapter_rules_reloads_total",
        "metrics_adapter_rules_last_reload_success_timestamp_seconds",
        "metrics_adapter_watch_cache_objects",
        "metrics_adapter_watch_cache_synced",
        "metrics_adapter_auth_reviews_total",
        "metrics_adapter_auth_review_cache_hits_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(names.contains(expected), "{expected} missing from:\n{text}");
    }
    for sample in [
        r#"metrics_adapter_requests_total{group="custom.metrics.k8s.io",version="v1beta1",route="object",code="200"} 1"#,
        r#"metrics_adapter_requests_total{group="custom.metrics.k8s.io",version="v1beta1",route="object",code="404"} 1"#,
        r#"metrics_adapter_prometheus_calls_total{kind="query",outcome="success"} 2"#,
        r#"metrics_adapter_registered_metrics{api="custom"} 2"#,
        r#"metrics_adapter_build_info{version=""#,
        r#"metrics_adapter_watch_cache_objects{resource="pods"} 1"#,
        r#"metrics_adapter_watch_cache_synced{resource="pods"} 1"#,
        r#"metrics_adapter_requests_total{group="custom.metrics.k8s.io",version="v1beta1",route="selector",code="200"} 1"#,
    ] {
        assert!(text.contains(sample), "{sample} missing from:\n{text}");
    }
    // No object or metric names in labels.
    assert!(!text.contains("asr-0") && !text.contains("asr_active_requests"));
    // Every name the adapter says it exports is there.
    for name in metrics_adapter::telemetry::metrics::metrics().names() {
        assert!(names.contains(name), "{name} missing from:\n{text}");
    }

    // One JSON line per request, naming the route, the metric and the aggregator's Audit-ID.
    let log = adapter
        .wait_for_log("3b1f0c1e-audit", Duration::from_secs(5))
        .await;
    let line = log.lines().find(|l| l.contains("3b1f0c1e-audit")).unwrap();
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["message"], "request");
    assert_eq!(event["route"], "object");
    assert_eq!(event["resource"], "pods");
    assert_eq!(event["metric"], "asr_active_requests");
    assert_eq!(event["status"], 200);
    assert_eq!(event["level"], "INFO");
    assert!(event["latency_ms"].as_f64().is_some(), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_authorized_as_a_non_resource_path() {
    let world = World::asr(1.0, |_, _| {}).await;
    world
        .cluster
        .set_authorizer(|spec| spec["nonResourceAttributes"]["path"] != "/metrics");
    let adapter = world.adapter(Adapter::builder(ASR_RULES)).await;
    let response = adapter
        .client()
        .get(format!("{}/metrics", adapter.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        "forbidden: User \"system:anonymous\" cannot get path \"/metrics\""
    );
    // A text log line for the same request.
    let log = adapter
        .wait_for_log("route=metrics", Duration::from_secs(5))
        .await;
    assert!(log.contains("status=403"), "{log}");
}
