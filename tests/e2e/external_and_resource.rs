//! external.metrics.k8s.io and metrics.k8s.io end to end, with upstream's external-metrics
//! examples and deploy config, and `kubectl top` reaching the adapter through the Kubernetes API
//! double's aggregator proxy, as it does in a cluster. `victoria_metrics.rs` runs the external
//! metrics scenario against VictoriaMetrics.

use std::time::Duration;

use metrics_adapter::quantity::Quantity;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::adapter::Adapter;
use crate::support::exporter::Exporter;
use crate::support::kube::{self, ApiService};
use crate::support::reference::reference_text;
use crate::support::world::World;

const EXT: &str = "/apis/external.metrics.k8s.io/v1beta1";
const RES: &str = "/apis/metrics.k8s.io/v1beta1";

fn quantity(v: &Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .parse::<Quantity>()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
        .as_f64()
}

/// kubectl top's CPU column (`300m`) in cores.
fn millicores(text: &str) -> f64 {
    text.strip_suffix('m')
        .and_then(|m| m.parse::<f64>().ok())
        .map_or(f64::NAN, |m| m / 1000.0)
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * 0.05
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_and_resource_metrics_with_kubectl_top() {
    let (Some(deploy_config), Some(external_examples)) = (
        reference_text("upstream-deploy-config.yaml", "this test"),
        reference_text("upstream-externalmetrics.yaml", "this test"),
    ) else {
        return;
    };
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace("speech"));
            for (name, phase) in [
                ("asr-0", "Running"),
                ("asr-1", "Running"),
                ("asr-2", "Pending"),
                ("asr-3", "Running"),
            ] {
                cluster.apply(kube::pod(
                    "speech",
                    name,
                    &[("app", "asr")],
                    phase,
                    phase == "Running",
                ));
            }
            cluster.apply(kube::node("node-1", "4", "8Gi"));
            cluster.apply(kube::node("node-2", "4", "8Gi"));

            let container = |pod: &'static str, c: &'static str| {
                [("namespace", "speech"), ("pod", pod), ("container", c)]
            };
            exporter.set_counter_rate(
                "container_cpu_usage_seconds_total",
                &container("asr-0", "asr"),
                0.25,
            );
            exporter.set_counter_rate(
                "container_cpu_usage_seconds_total",
                &container("asr-0", "sidecar"),
                0.05,
            );
            exporter.set_counter_rate(
                "container_cpu_usage_seconds_total",
                &container("asr-1", "asr"),
                0.5,
            );
            exporter.set_counter_rate(
                "container_cpu_usage_seconds_total",
                &container("asr-2", "asr"),
                0.5,
            );
            exporter.set_gauge(
                "container_memory_working_set_bytes",
                &container("asr-0", "asr"),
                100.0 * 1048576.0,
            );
            exporter.set_gauge(
                "container_memory_working_set_bytes",
                &container("asr-1", "asr"),
                1536.0 * 1024.0,
            );
            exporter.set_gauge(
                "container_memory_working_set_bytes",
                &container("asr-2", "asr"),
                1.0,
            );
            exporter.set_counter_rate("node_cpu_usage_seconds_total", &[("node", "node-1")], 1.5);
            exporter.set_gauge(
                "node_memory_working_set_bytes",
                &[("node", "node-1")],
                2.0 * 1073741824.0,
            );
            external_series(exporter);
        },
        "container_cpu_usage_seconds_total",
        4,
    )
    .await;
    let (cluster, prometheus) = (&world.cluster, &world.prometheus);
    prometheus
        .wait_for(
            "count(irate(container_cpu_usage_seconds_total[4m])) + count(irate(node_cpu_usage_seconds_total[4m]))",
            |r| r.single_value() == Some(5.0),
            Duration::from_secs(30),
        )
        .await;

    // upstream's deploy config (resource rules) and its external-metrics examples, in one file.
    let rules = format!("{deploy_config}\n{external_examples}");
    let adapter = Adapter::builder(&rules)
        .start(prometheus.base_url(), &cluster.kubeconfig())
        .await;

    // Discovery of both groups.
    external_metrics(&adapter).await;
    let doc = adapter.get_ok(RES).await;
    assert_eq!(doc["resources"][1]["name"], "pods");
    let apis = adapter.get_ok("/apis").await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["external.metrics.k8s.io", "metrics.k8s.io"]);

    // Resource metrics: running pods with both CPU and memory; asr-2 is Pending, asr-3 has none.
    let body = adapter
        .get_ok(&format!("{RES}/namespaces/speech/pods"))
        .await;
    assert_eq!(body["kind"], "PodMetricsList");
    let items = body["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["asr-0", "asr-1"]);
    let asr0 = &items[0];
    assert_eq!(asr0["metadata"]["namespace"], "speech");
    assert_eq!(asr0["metadata"]["labels"], json!({"app": "asr"}));
    assert_eq!(asr0["window"], "5m0s");
    let containers = asr0["containers"].as_array().unwrap();
    assert_eq!(containers[0]["name"], "asr");
    assert!(
        close(quantity(&containers[0]["usage"]["cpu"]), 0.25),
        "{asr0}"
    );
    assert_eq!(containers[0]["usage"]["memory"], "100Mi");
    // The sidecar has CPU but no memory series: its memory is 0.
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(containers[1]["usage"]["memory"], "0");
    assert_eq!(items[1]["containers"][0]["usage"]["memory"], "1536Ki");

    let body = adapter
        .get_ok(&format!("{RES}/namespaces/speech/pods/asr-1"))
        .await;
    assert_eq!(body["kind"], "PodMetrics");
    assert!(
        close(quantity(&body["containers"][0]["usage"]["cpu"]), 0.5),
        "{body}"
    );
    let all = adapter
        .get_ok(&format!(
            "{RES}/pods?labelSelector=app%3Dasr&fieldSelector=metadata.name%21%3Dasr-0"
        ))
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    for (path, message, name) in [
        (
            format!("{RES}/namespaces/speech/pods/asr-2"),
            "podmetrics.metrics.k8s.io \"speech/asr-2\" not found",
            "speech/asr-2",
        ),
        (
            format!("{RES}/namespaces/speech/pods/asr-3"),
            "podmetrics.metrics.k8s.io \"speech/asr-3\" not found",
            "speech/asr-3",
        ),
    ] {
        let (status, body) = adapter.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["message"], message);
        assert_eq!(
            body["details"],
            json!({"name": name, "group": "metrics.k8s.io", "kind": "podmetrics"})
        );
    }

    let body = adapter.get_ok(&format!("{RES}/nodes")).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["items"][0]["metadata"]["name"], "node-1");
    assert!(
        close(quantity(&body["items"][0]["usage"]["cpu"]), 1.5),
        "{body}"
    );
    assert_eq!(body["items"][0]["usage"]["memory"], "2Gi");
    let body = adapter.get_ok(&format!("{RES}/nodes/node-1")).await;
    assert_eq!(body["kind"], "NodeMetrics");
    let (status, body) = adapter.get(&format!("{RES}/nodes/node-2")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "node \"node-2\" not found");

    // kubectl top through the API double's aggregator proxy.
    cluster.register_api_service(ApiService::new("metrics.k8s.io", "v1beta1", &adapter.url()));
    let output = cluster.kubectl(&["top", "pod", "-n", "speech"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{stdout}"
    );
    assert_eq!(lines[1][0], "asr-0");
    assert!(close(millicores(lines[1][1]), 0.3), "{stdout}");
    assert_eq!(lines[1][2], "100Mi");
    assert_eq!(lines[2][0], "asr-1");
    assert_eq!(lines[2][2], "1Mi");
    let output = cluster.kubectl(&["top", "node"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        "{stdout}"
    );
    assert_eq!(lines[1][0], "node-1");
    // irate over scrapes a second apart: within a few percent of the exporter's 1.5 cores.
    assert!(close(millicores(lines[1][1]), 1.5), "{stdout}");
    assert!(["37%", "38%"].contains(&lines[1][2]), "{stdout}");
    assert_eq!(lines[1][3], "2048Mi");
    assert_eq!(lines[1][4], "25%");
}

/// What the external metrics scenario needs: `count(READY) == SERIES` on the backend.
pub const EXTERNAL_READY: (&str, usize) = ("queue_consumer_lag or queue_depth", 4);

/// The series of the external metrics scenario: a queue's consumer lag in two namespaces, and
/// two queue depths.
pub fn external_series(exporter: &Exporter) {
    exporter.set_gauge(
        "queue_consumer_lag",
        &[("name", "q1"), ("namespace", "default")],
        3.75,
    );
    exporter.set_gauge(
        "queue_consumer_lag",
        &[("name", "q1"), ("namespace", "other")],
        100.0,
    );
    exporter.set_gauge("queue_depth", &[("name", "q1")], 12.0);
    exporter.set_gauge("queue_depth", &[("name", "q2")], 5.0);
}

/// The rules of the external metrics scenario: upstream's external-metrics examples (`None`,
/// reported as a skip, without the reference files).
pub fn external_rules() -> Option<String> {
    reference_text("upstream-externalmetrics.yaml", "this test")
}

/// The external metrics scenario, against an adapter serving [`external_rules`] over a backend
/// that holds [`external_series`]: discovery, the namespaced and cluster-wide rules, selectors,
/// and errors.
pub async fn external_metrics(adapter: &Adapter) {
    let doc = adapter.get_ok(EXT).await;
    assert_eq!(
        doc["resources"],
        json!([
            {"name": "queue_consumer_lag", "singularName": "", "namespaced": true, "kind": "ExternalMetricValueList", "verbs": ["get"]},
            {"name": "queue_depth", "singularName": "", "namespaced": true, "kind": "ExternalMetricValueList", "verbs": ["get"]},
        ])
    );

    // External: the namespaced rule adds the namespace matcher, `namespaced: false` does not.
    let body = adapter
        .get_ok(&format!(
            "{EXT}/namespaces/default/queue_consumer_lag?labelSelector=name%3Dq1"
        ))
        .await;
    assert_eq!(body["kind"], "ExternalMetricValueList");
    assert_eq!(body["apiVersion"], "external.metrics.k8s.io/v1beta1");
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["items"][0]["metricName"], "queue_consumer_lag");
    assert_eq!(body["items"][0]["metricLabels"], json!({"name": "q1"}));
    assert_eq!(body["items"][0]["value"], "3750m");
    let body = adapter
        .get_ok(&format!("{EXT}/namespaces/anything/queue_depth"))
        .await;
    let values: Vec<(&str, &str)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["metricLabels"]["name"].as_str().unwrap(),
                i["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(values, [("q1", "12"), ("q2", "5")]);
    let body = adapter
        .get_ok(&format!(
            "{EXT}/namespaces/anything/queue_depth?labelSelector=name+notin+%28q1%29"
        ))
        .await;
    assert_eq!(body["items"][0]["metricLabels"], json!({"name": "q2"}));
    // Nothing selected: an empty list, not an error.
    let body = adapter
        .get_ok(&format!(
            "{EXT}/namespaces/default/queue_depth?labelSelector=name%3Dnope"
        ))
        .await;
    assert_eq!(body["items"], json!([]));
    let (status, body) = adapter.get(&format!("{EXT}/namespaces/default/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = adapter
        .get(&format!(
            "{EXT}/namespaces/default/queue_depth?labelSelector=a%3E1"
        ))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        body["message"],
        "Internal error occurred: unable to fetch metrics"
    );
}

/// A query whose result is not an instant vector or a scalar fails as every failed query does:
/// 500 `unable to fetch metrics`, the result type in the log only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_queries_of_the_wrong_shape_fail_as_fetch_errors() {
    let world = World::start(
        |_, exporter| exporter.set_gauge("queue_depth", &[("name", "q1")], 12.0),
        "queue_depth",
        1,
    )
    .await;
    let rules = r#"externalRules:
- seriesQuery: 'queue_depth'
  name: {matches: "^queue_depth$", as: "queue_depth_range"}
  resources: {namespaced: false}
  metricsQuery: '<<.Series>>{<<.LabelMatchers>>}[1m]'
- seriesQuery: 'queue_depth'
  resources: {namespaced: false}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (name)'
"#;
    let adapter = world.adapter(Adapter::builder(rules)).await;
    let body = adapter
        .get_ok(&format!("{EXT}/namespaces/default/queue_depth"))
        .await;
    assert_eq!(body["items"][0]["value"], "12");
    let (status, body) = adapter
        .get(&format!("{EXT}/namespaces/default/queue_depth_range"))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        body["message"],
        "Internal error occurred: unable to fetch metrics"
    );
    assert_eq!(body["reason"], "InternalError");
    adapter
        .wait_for_log(
            "encountered an unexpected query result type",
            Duration::from_secs(5),
        )
        .await;
}
